; Triple fault: with an empty IDT, UD2 raises #UD, whose delivery fails (#GP), whose delivery
; fails again (#DF), whose delivery fails too: the processor shuts down. QEMU with -no-reboot then
; exits with status 0; ts86 calls cpu.onShutdown. Nothing may run after the UD2.
%include "common.inc"

main:
    PRINTLN 'triple fault next'
    lidt [empty_idtr]
    ud2
    PRINTLN 'FAIL execution continued after a triple fault'
    mov al, EXIT_FAIL
    jmp exit

section .data
empty_idtr:
    dw 0
    dd 0

%include "common_end.inc"
