; Instructions that change SS or ESP as a side effect, on 16- and 32-bit stacks: POP SS, POP ESP,
; POP to ESP-addressed memory, LSS, ENTER/LEAVE for every operand size x stack size x nesting
; level, and IRET/RETF to ring 3 onto a 16-bit stack. Results the SDM spells out are CHECKed; the
; rest is printed ("name value" lines, and the stack dwords an instruction wrote), so the harness
; compares it with QEMU line for line.
%include "common.inc"

SEL_S16     equ (GDT_FREE + 0) << 3         ; ring-0 data, B=0, base stk, limit 0xFFFF
SEL_S32     equ (GDT_FREE + 1) << 3         ; ring-0 data, B=1, base stk, limit 0xFFFF
SEL_S32LO   equ (GDT_FREE + 2) << 3         ; ring-0 data, B=1, base stk - 0x10000, limit 4 GiB
SEL_U16     equ ((GDT_FREE + 3) << 3) | 3   ; ring-3 data, B=0, base stk, limit 0xFFFF

PATTERN     equ 0xC0DE0000                  ; stk dword at offset o holds PATTERN + o

; SHOW 'name', value — prints "name VALUE" (value not ESP-relative).
%macro SHOW 2
[section .rodata]
%%n: db %1, 0
__SECT__
    push dword %2
    push dword %%n
    call show_val
%endmacro

; ON_STACK sel, esp, ebp, instruction... — runs the instruction with SS:ESP = sel:esp and EBP set,
; records ESP and EBP in got_esp/got_ebp and returns to the kernel stack. The stack area holds
; its pattern (fill_stk) plus what the case stored there.
%macro ON_STACK 4+
    mov [saved_esp], esp
    mov ax, %1
    mov ss, ax
    mov esp, %2
    mov ebp, %3
    %4
    mov [got_esp], esp
    mov [got_ebp], ebp
    mov ax, SEL_KDATA
    mov ss, ax
    mov esp, [saved_esp]
%endmacro

; FRAME 'name', sel, esp, ebp, instruction... — ON_STACK, then prints EBP, ESP and what changed
; (and restores the pattern).
%macro FRAME 5+
    ON_STACK %2, %3, %4, %5
    SHOW {%1, ' ebp'}, [got_ebp]
    SHOW {%1, ' esp'}, [got_esp]
    call show_changes
%endmacro

main:
    GDT_DESC SEL_S16 >> 3, stk, 0xFFFF, 0x93, 0x0
    GDT_DESC SEL_S32 >> 3, stk, 0xFFFF, 0x93, 0x4
    GDT_DESC SEL_S32LO >> 3, stk - 0x10000, 0xFFFFF, 0x93, 0xC
    GDT_DESC SEL_U16 >> 3, stk, 0xFFFF, 0xF3, 0x0
    call fill_stk

    ; POP SS: ESP moves by the operand size with the stack size the pop was made with, not the
    ; new segment's (SDM POP: the stack-address-size of the current SS).
    mov dword [stk + 0xFFFC], SEL_S32LO
    ON_STACK SEL_S16, 0x0002FFFC, 0, pop ss
    CHECK 'pop-ss-o32-from-s16-to-s32', [got_esp], 0x00020000
    mov dword [stk + 0xFFFE], SEL_S32LO
    ON_STACK SEL_S16, 0x0002FFFE, 0, o16 pop ss
    CHECK 'pop-ss-o16-from-s16-to-s32', [got_esp], 0x00020000
    mov dword [stk + 0xFFFC], SEL_S16
    ON_STACK SEL_S32LO, 0x0001FFFC, 0, pop ss
    CHECK 'pop-ss-o32-from-s32-to-s16', [got_esp], 0x00020000
    mov dword [stk + 0xFFFE], SEL_S16
    ON_STACK SEL_S32LO, 0x0001FFFE, 0, o16 pop ss
    CHECK 'pop-ss-o16-from-s32-to-s16', [got_esp], 0x00020000
    call fill_stk

    ; POP ESP / POP SP: the popped value wins over the increment.
    mov dword [stk + 0xFFFC], 0x12345678
    ON_STACK SEL_S16, 0x0002FFFC, 0, pop esp
    CHECK 'pop-esp-s16', [got_esp], 0x12345678
    call fill_stk
    mov dword [stk + 0xFFFC], 0x1234ABCD
    ON_STACK SEL_S16, 0x0002FFFE, 0, o16 pop sp
    SHOW 'pop-sp-s16', [got_esp]
    ON_STACK SEL_S32LO, 0x0001FFFE, 0, o16 pop sp
    SHOW 'pop-sp-s32', [got_esp]
    call fill_stk

    ; POP to memory addressed through ESP: the address uses ESP after the pop (SDM POP), which on
    ; a 16-bit stack has SP wrapped.
    mov dword [stk + 0xFFF8], 0xA1A2A3A4
    FRAME 'pop-mem-esp-s16', SEL_S16, 0x0000FFF8, 0, pop dword [esp]
    mov dword [stk + 0xFFFC], 0xB1B2B3B4
    ON_STACK SEL_S16, 0x0000FFFC, 0, pop dword [esp + 8]
    CHECK 'pop-mem-esp-s16-wrap', [stk + 8], 0xB1B2B3B4
    call fill_stk
    mov word [stk + 0xFFFE], 0xC3C4
    ON_STACK SEL_S16, 0x0000FFFE, 0, o16 pop word [esp + 2]
    CHECK 'pop-mem-esp-o16-s16-wrap', [stk], 0xC3C40000 | (PATTERN & 0xFFFF)
    call fill_stk
    mov dword [stk + 0x8000], 0xD1D2D3D4
    FRAME 'pop-mem-esp-s32', SEL_S32, 0x00008000, 0, pop dword [esp - 8]

    ; LSS loads SS and (E)SP together; a 16-bit operand leaves ESP's upper half.
    ON_STACK SEL_S32, 0x00008000, 0, lss esp, [far_ptr]
    CHECK 'lss-o32', [got_esp], 0x0002FFF0
    ON_STACK SEL_S32, 0x00078000, 0, o16 lss sp, [far_ptr16]
    CHECK 'lss-o16', [got_esp], 0x0007FFF0

    ; ENTER: every operand size x stack size x nesting level (SDM ENTER pseudo-code).
%macro ENTER_SET 4 ; name, stack selector, ESP, EBP
    FRAME {%1, '-o32-l0'}, %2, %3, %4, enter 0x10, 0
    FRAME {%1, '-o32-l1'}, %2, %3, %4, enter 0x10, 1
    FRAME {%1, '-o32-l2'}, %2, %3, %4, enter 0x10, 2
    FRAME {%1, '-o32-l3'}, %2, %3, %4, enter 0x10, 3
    FRAME {%1, '-o32-l33'}, %2, %3, %4, enter 0x10, 33
    FRAME {%1, '-o16-l0'}, %2, %3, %4, o16 enter 0x10, 0
    FRAME {%1, '-o16-l1'}, %2, %3, %4, o16 enter 0x10, 1
    FRAME {%1, '-o16-l2'}, %2, %3, %4, o16 enter 0x10, 2
    FRAME {%1, '-o16-l3'}, %2, %3, %4, o16 enter 0x10, 3
%endmacro
    ENTER_SET 'enter-s16', SEL_S16, 0x00038000, 0x00057000
    ENTER_SET 'enter-s32', SEL_S32, 0x00008000, 0x00007000
    ENTER_SET 'enter-s32lo', SEL_S32LO, 0x00018000, 0x00017000
    ; SP wrapping below zero on a 16-bit stack: ESP keeps its upper half through every step, and
    ; FrameTemp (EBP, and the copy pushed) is that whole ESP. Values as this machine's CPU gives
    ; them (and the SDM pseudo-code implies); QEMU subtracts from ESP without the 16-bit wrap.
    ON_STACK SEL_S16, 0x00030000, 0x00050004, enter 8, 3
    CHECK 'enter-s16-wrap-o32-l3-ebp', [got_ebp], 0x0003FFFC
    CHECK 'enter-s16-wrap-o32-l3-esp', [got_esp], 0x0003FFE8
    CHECK 'enter-s16-wrap-o32-l3-frametemp', [stk + 0xFFF0], 0x0003FFFC
    CHECK 'enter-s16-wrap-o32-l3-walk2', [stk + 0xFFF4], 0x00050004
    CHECK 'enter-s16-wrap-o32-l3-walk1', [stk + 0xFFF8], PATTERN
    CHECK 'enter-s16-wrap-o32-l3-ebp-pushed', [stk + 0xFFFC], 0x00050004
    call fill_stk
    FRAME 'enter-s16-wrap-o16-l3', SEL_S16, 0x00030000, 0x00050002, o16 enter 8, 3
    ON_STACK SEL_S16, 0x00020000, 0x0001F000, enter 0, 0
    CHECK 'enter-s16-o32-l0-high-ebp', [got_ebp], 0x0002FFFC
    CHECK 'enter-s16-o32-l0-high-esp', [got_esp], 0x0002FFFC
    CHECK 'enter-s16-o32-l0-high-pushed', [stk + 0xFFFC], 0x0001F000
    call fill_stk
    ; The allocation wraps too, with the stack size whatever the operand size.
    ON_STACK SEL_S16, 0x00030008, 0x00057000, enter 0x10, 0
    CHECK 'enter-s16-o32-alloc-wrap-ebp', [got_ebp], 0x00030004
    CHECK 'enter-s16-o32-alloc-wrap-esp', [got_esp], 0x0003FFF4
    call fill_stk
    FRAME 'enter-s16-o16-alloc-wrap', SEL_S16, 0x00030008, 0x00057000, o16 enter 0x10, 0
    FRAME 'enter-s32lo-o16-alloc-wrap', SEL_S32LO, 0x00010008, 0x00017000, o16 enter 0x10, 0

    ; LEAVE: ESP from EBP with the stack size, EBP popped with the operand size.
    mov dword [stk + 0x7000], 0x11223344
    FRAME 'leave-s16-o32', SEL_S16, 0x00030100, 0x00057000, leave
    FRAME 'leave-s16-o16', SEL_S16, 0x00030100, 0x00057000, o16 leave
    FRAME 'leave-s32-o32', SEL_S32, 0x00000100, 0x00007000, leave
    FRAME 'leave-s32-o16', SEL_S32, 0x00000100, 0x00007000, o16 leave
    mov dword [stk + 0xFFFC], 0x55667788
    FRAME 'leave-s16-wrap', SEL_S16, 0x00030100, 0x0005FFFC, leave

    ; IRET and RETF to ring 3 onto a 16-bit stack: SP comes from the frame, ESP's upper half stays.
    mov ebx, iret_to_r3
    call via_ring3
    SHOW 'iret-r3-s16-sp', [r3_sp]
    CHECK 'iret-r3-s16-esp-high', [r3_hi], [k_hi]
    mov ebx, retf_to_r3
    call via_ring3
    SHOW 'retf-r3-s16-sp', [r3_sp]
    CHECK 'retf-r3-s16-esp-high', [r3_hi], [k_hi]
    ret

; via_ring3: EBX = routine that leaves for r3_probe with its frame; back here after the probe.
via_ring3:
    pushad
    mov [ring3_kesp], esp
    mov eax, esp
    shr eax, 16
    mov [k_hi], eax
    mov ax, SEL_UDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    jmp ebx

iret_to_r3:
    push dword SEL_U16
    push dword 0x1234FFF0
    push dword [user_eflags]
    push dword SEL_UCODE
    push dword r3_probe
    iretd

retf_to_r3:
    push dword SEL_U16
    push dword 0x5678FF00
    sub esp, 12                             ; parameters released by RETF 12 on both stacks
    push dword SEL_UCODE
    push dword r3_probe
    retf 12

r3_probe:
    mov eax, esp
    movzx ecx, ax
    mov [r3_sp], ecx
    shr eax, 16
    mov [r3_hi], eax
    mov eax, SYS_EXIT_RING3
    int 0x80

; fill_stk: the 64 KiB stack area gets its pattern back.
fill_stk:
    pushad
    mov edi, stk
    mov eax, PATTERN
.next:
    stosd
    add eax, 4
    cmp edi, stk + 0x10000
    jb .next
    popad
    ret

; show_changes: prints "  +OFFSET VALUE" for every stack-area dword that differs from the pattern,
; then restores the pattern.
show_changes:
    pushad
    xor ebx, ebx
.next:
    mov eax, [stk + ebx]
    lea ecx, [ebx + PATTERN]
    cmp eax, ecx
    je .same
    PRINT '  +'
    mov eax, ebx
    call puthex
    mov al, ' '
    out 0xE9, al
    mov eax, [stk + ebx]
    call puthex
    mov al, 10
    out 0xE9, al
.same:
    add ebx, 4
    cmp ebx, 0x10000
    jb .next
    popad
    jmp fill_stk

; show_val(name, value), pushed right to left; pops them.
show_val:
    pushad
    pushfd
    mov esi, [esp + 36 + 4]
    call puts
    mov al, ' '
    out 0xE9, al
    mov eax, [esp + 36 + 8]
    call puthex
    mov al, 10
    out 0xE9, al
    popfd
    popad
    ret 8

section .data
saved_esp:  dd 0
got_esp:    dd 0
got_ebp:    dd 0
far_ptr:    dd 0x0002FFF0, SEL_S16
far_ptr16:  dw 0xFFF0, SEL_S16
r3_sp:      dd 0
r3_hi:      dd 0
k_hi:       dd 0

section .bss
alignb 4096
stk:        resb 0x10000 + 16

%include "common_end.inc"
