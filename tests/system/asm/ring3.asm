; Ring transitions by IRET and interrupt gates: IRET to ring 3, INT n through a DPL-3 gate (stack
; switch to TSS.ESP0/SS0, the saved ring-3 frame, return value, user stack untouched), INT n
; through a DPL-0 gate, privileged instructions and kernel selectors in ring 3, IRET/RETF to an
; inner ring, POPF not changing IOPL/IF, I/O with IOPL 3 and through the TSS I/O bitmap.
%include "common.inc"

; UFAULT slot, instruction... (ring 3): records vector and error code
%macro UFAULT 2+
    TRY
    %2
    CATCH
    mov eax, [last_vec]
    mov [ures + %1*8], eax
    mov eax, [last_err]
    mov [ures + %1*8 + 4], eax
%endmacro

; UCHECK 'name', slot, vector, error code
%macro UCHECK 4
    CHECK {%1, '-vec'}, [ures + %2*8], %3
    CHECK {%1, '-err'}, [ures + %2*8 + 4], %4
%endmacro

main:
    mov dword [syscall_hook], sys_hook
    IDT_GATE 0x82, isr_130, 0x8E             ; DPL 0: not callable from ring 3
    mov ebx, user_main
    call call_ring3
    CHECK 'ring3-back-in-ring0', [ring3_done], 1
    CHECK 'ring3-cs', [u_cs], SEL_UCODE
    CHECK 'ring3-ss', [u_ss], SEL_UDATA
    CHECK 'syscall-entry-esp', [sys_entry_esp], tss_stack_top - 20
    CHECK 'syscall-handler-cs', [k_cs], SEL_KCODE
    CHECK 'syscall-handler-ss', [k_ss], SEL_KDATA
    CHECK 'syscall-frame-eip', [k_frame], u_after_int
    CHECK 'syscall-frame-cs', [k_frame + 4], SEL_UCODE
    CHECK 'syscall-frame-esp', [k_frame + 12], [u_esp]
    CHECK 'syscall-frame-ss', [k_frame + 16], SEL_UDATA
    CHECK 'syscall-arg', [k_arg], 0xA5A5
    CHECK 'syscall-return-value', [u_ret], 0x5A5A
    CHECK 'ring3-stack-untouched', [u_canary], 0xC0FFEE
    CHECK 'ring3-regs-kept', [u_ebx], 0xB0B0B0B0
    UCHECK 'int-dpl0-gate', 0, 13, 0x82*8 + 2
    UCHECK 'ring3-cli', 1, 13, 0
    UCHECK 'ring3-hlt', 2, 13, 0
    UCHECK 'ring3-mov-cr0', 3, 13, 0
    UCHECK 'ring3-read-cr3', 4, 13, 0
    UCHECK 'ring3-lgdt', 5, 13, 0
    UCHECK 'ring3-invlpg', 6, 13, 0
    UCHECK 'ring3-wrmsr', 7, 13, 0
    UCHECK 'ring3-in', 8, 13, 0
    UCHECK 'ring3-out', 9, 13, 0
    UCHECK 'ring3-clts', 10, 13, 0
    UCHECK 'ring3-load-kernel-ds', 11, 13, SEL_KDATA
    UCHECK 'ring3-iret-to-ring0', 12, 13, SEL_KCODE
    UCHECK 'ring3-retf-to-ring0', 13, 13, SEL_KCODE
    CHECK 'ring3-popf-keeps-iopl-if', [u_flags], 0
    CHECK 'ring3-fault-cs', [last_cs], SEL_UCODE

    ; IOPL 3: ring 3 may use I/O ports and CLI
    mov dword [user_eflags], 0x3002
    mov ebx, user_iopl3
    call call_ring3
    CHECK 'ring3-iopl3-io', [ures + 14*8], NO_FAULT
    mov dword [user_eflags], 0x0002

    ; IOPL 0 with the I/O bitmap allowing port 0xE9 only
    and byte [tss_main + TSS_SIZE + (0xE9 >> 3)], ~(1 << (0xE9 & 7))
    mov ebx, user_iobitmap
    call call_ring3
    CHECK 'ring3-iobitmap-allowed', [ures + 15*8], NO_FAULT
    UCHECK 'ring3-iobitmap-denied', 16, 13, 0
    UCHECK 'ring3-iobitmap-word-straddle', 17, 13, 0
    ret

user_main:
    mov ax, cs
    movzx eax, ax
    mov [u_cs], eax
    mov ax, ss
    movzx eax, ax
    mov [u_ss], eax
    mov dword [esp - 4], 0xC0FFEE           ; below ESP: the kernel must not write here
    mov ebx, 0xB0B0B0B0
    mov [u_esp], esp
    mov eax, 0xA5A5
    int 0x80
u_after_int:
    mov [u_ret], eax
    mov [u_ebx], ebx
    mov eax, [esp - 4]
    mov [u_canary], eax
    UFAULT 0, int 0x82
    UFAULT 1, cli
    UFAULT 2, hlt
    UFAULT 3, mov cr0, eax
    UFAULT 4, mov eax, cr3
    UFAULT 5, lgdt [gdtr]
    UFAULT 6, invlpg [0]
    UFAULT 7, wrmsr
    UFAULT 8, in al, 0x80
    UFAULT 9, out 0x80, al
    UFAULT 10, clts
    mov ax, SEL_KDATA
    UFAULT 11, mov ds, ax
    mov esi, esp
    pushfd
    push dword SEL_KCODE
    push dword ring0_target
    UFAULT 12, iretd
    mov esp, esi
    push dword SEL_KCODE
    push dword ring0_target
    UFAULT 13, retf
    mov esp, esi
    pushfd
    or dword [esp], 0x3200                  ; IOPL 3, IF
    popfd
    pushfd
    pop eax
    and eax, 0x3200
    mov [u_flags], eax
    mov dword [ring3_done], 1
    ret

ring0_target:                               ; never reached: the transfers above fault
    jmp unexpected

user_iopl3:
    UFAULT 14, PRINTLN 'ring 3 with IOPL 3 writes to port 0xe9'
    cli
    ret

user_iobitmap:
    UFAULT 15, PRINTLN 'ring 3 writes to port 0xe9 allowed by the I/O bitmap'
    UFAULT 16, out 0xEA, al
    mov dx, 0xE8
    UFAULT 17, out dx, ax                   ; 0xE8 is denied, 0xE9 allowed
    ret

; INT 0x80 hook (ring 0): EBP = the ring-3 frame; the argument comes in EAX, the result goes back
sys_hook:
    mov [k_arg], eax
    xor eax, eax
    mov ax, cs
    mov [k_cs], eax
    mov ax, ss
    mov [k_ss], eax
    mov esi, ebp
    mov edi, k_frame
    mov ecx, 5
    rep movsd
    mov eax, 0x5A5A
    ret

section .data
ring3_done: dd 0
u_cs:       dd 0
u_ss:       dd 0
u_esp:      dd 0
u_ret:      dd 0
u_ebx:      dd 0
u_canary:   dd 0
u_flags:    dd 0xFFFFFFFF
k_arg:      dd 0
k_cs:       dd 0
k_ss:       dd 0
k_frame:    times 5 dd 0
ures:       times 18*2 dd 0

%include "common_end.inc"
