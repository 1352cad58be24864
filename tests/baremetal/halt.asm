; halt: a Multiboot kernel that halts for good, or waits, with a timer ticking. Variants (-D MODE=):
;   1  the PIT ticks (1 kHz, its IRQ masked at the 8259), then CLI; HLT: nothing can wake the CPU
;   2  the same with STI; HLT: the CPU stays halted with interrupts on, only --timeout ends it
;   3  the PIT's IOAPIC pin in NMI mode, then CLI; HLT: the NMI wakes the CPU, which reports and exits
; Text printed before halting must reach stdout however the run ends.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000
IOAPIC      equ 0xFEC00000
EXIT_VALUE  equ 0x21

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, bss_end, _start

%include "lib.inc"

section .text
_start:
    mov esp, stack_top
    mov al, 0xFF                            ; every 8259 input masked
    out 0x21, al
    out 0xA1, al
%if MODE == 3
    ; IDT: vector 2 (NMI) -> nmi_handler, through the loader's code selector
    mov eax, nmi_handler
    mov [idt + 2*8], ax
    mov [idt + 2*8 + 2], cs
    mov word [idt + 2*8 + 4], 0x8E00
    shr eax, 16
    mov [idt + 2*8 + 6], ax
    lidt [idtr]
    ; IOAPIC pin 2 (ISA IRQ 0, the PIT): NMI delivery, edge, unmasked, to APIC 0
    mov dword [IOAPIC], 0x15
    mov dword [IOAPIC + 0x10], 0
    mov dword [IOAPIC], 0x14
    mov dword [IOAPIC + 0x10], 4 << 8
%endif
    ; PIT channel 0, mode 2 (rate generator), 1193 -> about 1 kHz
    mov al, 0x34
    out 0x43, al
    mov al, 1193 & 0xFF
    out 0x40, al
    mov al, 1193 >> 8
    out 0x40, al
    PRINT 'halting'
    NEWLINE
%if MODE == 2
    sti
%else
    cli
%endif
.stop:
    hlt
    jmp .stop

nmi_handler:
    PRINT 'woken by NMI'
    NEWLINE
    call report_exit

section .data
idtr:
    dw 256 * 8 - 1
    dd idt
image_end:

section .bss
alignb 8
idt:        resb 256 * 8
            resb 4096
stack_top:
bss_end:
