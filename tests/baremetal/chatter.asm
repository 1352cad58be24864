; chatter: a Multiboot kernel that prints numbered lines on the debug console for ever, for checking
; how ts86 ends when the reader of its output goes away or its output cannot be written.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000
EXIT_VALUE  equ 0                       ; lib.inc's report_exit, unused here

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, image_end, _start

%include "lib.inc"

section .text
_start:
    mov esp, 0x90000                        ; conventional RAM, below the EBDA
    xor eax, eax
.line:
    PRINT 'line '
    call puthex
    NEWLINE
    inc eax
    jmp .line

section .data
image_end:
