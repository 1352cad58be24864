; Call gates: a far CALL from ring 3 through a DPL-3 gate to ring-0 code (stack switch to
; TSS.ESP0, two parameters copied, the caller's SS:ESP and CS:EIP saved) and RETF 8 back to ring 3
; (both stacks popped); a call gate used at the same privilege (no stack switch); #GP for a gate
; whose DPL is below CPL and for JMP through a gate to an inner ring; #NP for a not-present gate.
%include "common.inc"

SEL_GATE3   equ ((GDT_FREE + 0) << 3) | 3   ; DPL 3 -> ring 0, 2 parameters
SEL_GATE0   equ (GDT_FREE + 1) << 3         ; DPL 0
SEL_GATENP  equ ((GDT_FREE + 2) << 3) | 3   ; not present
SEL_GATE_R0 equ (GDT_FREE + 3) << 3         ; DPL 0 -> ring 0, for ring-0 callers

; CALLGATE selector, target offset, access byte, parameter count
%macro CALLGATE 4
    mov edi, gdt + ((%1) & ~7)
    mov eax, %2
    mov [edi], ax
    mov word [edi + 2], SEL_KCODE
    mov byte [edi + 4], %4
    mov byte [edi + 5], %3
    shr eax, 16
    mov [edi + 6], ax
%endmacro

main:
    CALLGATE SEL_GATE3, gate_target, 0xEC, 2
    CALLGATE SEL_GATE0, gate_target, 0x8C, 2
    CALLGATE SEL_GATENP, gate_target, 0x6C, 2
    CALLGATE SEL_GATE_R0, same_target, 0x8C, 0

    mov ebx, user_main
    call call_ring3
    CHECK 'callgate-cs', [k_cs], SEL_KCODE
    CHECK 'callgate-ss', [k_ss], SEL_KDATA
    CHECK 'callgate-esp', [k_esp], tss_stack_top - 24
    CHECK 'callgate-saved-eip', [k_frame], u_return
    CHECK 'callgate-saved-cs', [k_frame + 4], SEL_UCODE
    CHECK 'callgate-param-1', [k_frame + 8], 0x22222222
    CHECK 'callgate-param-2', [k_frame + 12], 0x11111111
    mov eax, [u_esp_before]
    sub eax, 8
    CHECK 'callgate-saved-esp', [k_frame + 16], eax
    CHECK 'callgate-saved-ss', [k_frame + 20], SEL_UDATA
    CHECK 'callgate-retf-cs', [u_cs], SEL_UCODE
    CHECK 'callgate-retf-esp', [u_esp_after], [u_esp_before]
    CHECK 'callgate-result', [u_eax], 0x33333333
    CHECK 'callgate-dpl-below-cpl-vec', [u_res], 13
    CHECK 'callgate-dpl-below-cpl-err', [u_res + 4], SEL_GATE0
    CHECK 'callgate-not-present-vec', [u_res + 8], 11
    CHECK 'callgate-not-present-err', [u_res + 12], SEL_GATENP & ~3
    CHECK 'callgate-jmp-inner-vec', [u_res + 16], 13
    CHECK 'callgate-jmp-inner-err', [u_res + 20], SEL_KCODE

    ; same privilege: no stack switch, no parameter copy
    mov esi, esp
    call SEL_GATE_R0:0
.s_return:
    sub esi, 8
    CHECK 'callgate-same-ring-esp', [s_esp], esi
    CHECK 'callgate-same-ring-eip', [s_frame], .s_return
    CHECK 'callgate-same-ring-cs', [s_frame + 4], SEL_KCODE
    ret

user_main:
    mov [u_esp_before], esp
    push dword 0x11111111
    push dword 0x22222222
    call SEL_GATE3:0
u_return:
    mov [u_eax], eax
    mov [u_esp_after], esp
    mov ax, cs
    movzx eax, ax
    mov [u_cs], eax
    TRY
    call SEL_GATE0 | 3:0
    CATCH
    mov eax, [last_vec]
    mov [u_res], eax
    mov eax, [last_err]
    mov [u_res + 4], eax
    TRY
    call SEL_GATENP:0
    CATCH
    mov eax, [last_vec]
    mov [u_res + 8], eax
    mov eax, [last_err]
    mov [u_res + 12], eax
    TRY
    jmp SEL_GATE3:0
    CATCH
    mov eax, [last_vec]
    mov [u_res + 16], eax
    mov eax, [last_err]
    mov [u_res + 20], eax
    mov esp, [u_esp_before]
    ret

gate_target:
    mov [k_esp], esp
    xor eax, eax
    mov ax, cs
    mov [k_cs], eax
    mov ax, ss
    mov [k_ss], eax
    mov esi, esp
    mov edi, k_frame
    mov ecx, 6
    rep movsd
    mov eax, 0x33333333
    retf 8

same_target:
    mov [s_esp], esp
    mov eax, [esp]
    mov [s_frame], eax
    mov eax, [esp + 4]
    mov [s_frame + 4], eax
    retf

section .data
k_cs:           dd 0
k_ss:           dd 0
k_esp:          dd 0
k_frame:        times 6 dd 0
u_esp_before:   dd 0
u_esp_after:    dd 0
u_cs:           dd 0
u_eax:          dd 0
u_res:          times 6 dd 0
s_esp:          dd 0
s_frame:        times 2 dd 0

%include "common_end.inc"
