; exit: a minimal Multiboot kernel (flat a.out kludge) that writes EXIT_VALUE to isa-debug-exit with
; an EXIT_WIDTH-byte (1, 2 or 4) OUT, for checking the exit status mapping.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, image_end, _start

_start:
    mov eax, EXIT_VALUE
    mov dx, 0xF4
%if EXIT_WIDTH == 1
    out dx, al
%elif EXIT_WIDTH == 2
    out dx, ax
%else
    out dx, eax
%endif
    cli
    hlt
image_end:
