; testdev: a Multiboot kernel in flat a.out-kludge form that drives QEMU's pc-testdev
; (hw/misc/pc-testdev.c) and the POST-code port: the scratch register at 0xE0 (dword, byte and word
; accesses read back what was written), its byte window at 0xE8, the 64 KiB memory window at
; 0xFF000000, and IRQ line 3 through port 0x2003 delivered by the 8259 to vector 0x23. Writes POST
; codes to port 0x80, prints the results and exits via isa-debug-exit with a dword write of 0x42.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000
IOMEM       equ 0xFF000000
IRQ         equ 3                       ; no device drives it on either machine
IRQ_PORT    equ 0x2000 + IRQ
VEC_BASE    equ 0x20                    ; the master 8259's vectors after remapping
EXIT_VALUE  equ 0x42

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, bss_end, _start

%include "lib.inc"
section .text

; IN size, port — EAX = 0xC0C0C0C0 with the low bytes replaced by the read, printed after `name`
%macro READ 3
    PRINT %1
    mov eax, 0xC0C0C0C0
    mov dx, %3
    in %2, dx
    call puthex
    NEWLINE
%endmacro

_start:
    cli
    cld
    mov esp, stack_top

    mov al, 0x01
    out 0x80, al

    ; scratch register
    mov eax, 0x12345678
    out 0xE0, eax
    READ 'e0 dword ', eax, 0xE0
    READ 'e1 byte ', al, 0xE1
    READ 'e2 word ', ax, 0xE2
    mov al, 0xAB
    out 0xE3, al
    READ 'e0 after byte write to e3 ', eax, 0xE0
    mov ax, 0xCDEF
    out 0xE0, ax
    READ 'e0 after word write to e0 ', eax, 0xE0
    READ 'e8 byte ', al, 0xE8
    READ 'ea byte ', al, 0xEA
    mov al, 0x55
    out 0xEB, al
    READ 'e0 after byte write to eb ', eax, 0xE0

    mov al, 0x02
    out 0x80, al

    ; memory window
    mov dword [IOMEM], 0xDEADBEEF
    mov dword [IOMEM + 0xFFFC], 0x01020304
    mov byte [IOMEM + 1], 0x77
    PRINT 'iomem 0 '
    mov eax, [IOMEM]
    call puthex
    PRINT ' fffc '
    mov eax, [IOMEM + 0xFFFC]
    call puthex
    NEWLINE

    mov al, 0x03
    out 0x80, al

    ; IRQ line 3 through the 8259: remap it to VEC_BASE, mask every other line
    call idt_init
    mov al, 0x11                        ; ICW1: edge, cascade, ICW4
    out 0x20, al
    out 0xA0, al
    mov al, VEC_BASE                    ; ICW2
    out 0x21, al
    mov al, VEC_BASE + 8
    out 0xA1, al
    mov al, 0x04                        ; ICW3: slave on IR2
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01                        ; ICW4: 8086 mode
    out 0x21, al
    out 0xA1, al
    mov al, ~(1 << IRQ) & 0xFF
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    sti
    mov dx, IRQ_PORT
    mov al, 0                           ; a low line raises nothing
    out dx, al
    call settle
    PRINT 'irq after write 0: '
    mov eax, [irq_count]
    call putdec
    NEWLINE
    mov al, 1                           ; the handler lowers the line again
    out dx, al
    call settle
    PRINT 'irq after write 1: '
    mov eax, [irq_count]
    call putdec
    NEWLINE
    mov al, 0xFF                        ; any non-zero value raises the line
    out dx, al
    call settle
    PRINT 'irq after write ff: '
    mov eax, [irq_count]
    call putdec
    PRINT ' other vectors: '
    mov eax, [other_count]
    call putdec
    NEWLINE
    cli

    mov al, 0xFF
    out 0x80, al

    PRINT 'exit '
    mov eax, EXIT_VALUE
    call puthex
    NEWLINE
    mov eax, EXIT_VALUE
    mov dx, 0xF4
    out dx, eax
    jmp exit

; settle: give a pending interrupt a few hundred instructions to arrive
settle:
    push ecx
    mov ecx, 500
.spin:
    loop .spin
    pop ecx
    ret

; idt_init: exceptions 0-31 abort, vectors VEC_BASE..VEC_BASE+15 count interrupts
idt_init:
    pushad
    xor ecx, ecx
.gate:
    mov eax, exception
    cmp ecx, VEC_BASE
    jb .set
    mov eax, other_irq
    cmp ecx, VEC_BASE + IRQ
    jne .set
    mov eax, irq_handler
.set:
    mov [idt + ecx*8], ax
    mov word [idt + ecx*8 + 2], cs
    mov word [idt + ecx*8 + 4], 0x8E00  ; present, DPL 0, 32-bit interrupt gate
    shr eax, 16
    mov [idt + ecx*8 + 6], ax
    inc ecx
    cmp ecx, VEC_BASE + 16
    jb .gate
    lidt [idtr]
    popad
    ret

irq_handler:
    push eax
    push edx
    inc dword [irq_count]
    mov dx, IRQ_PORT
    mov al, 0
    out dx, al
    mov al, 0x20                        ; non-specific EOI
    out 0x20, al
    pop edx
    pop eax
    iretd

other_irq:
    push eax
    inc dword [other_count]
    mov al, 0x20
    out 0x20, al
    out 0xA0, al
    pop eax
    iretd

exception:
    PRINT 'unexpected exception'
    NEWLINE
    mov al, 0x7F
    jmp exit

section .data
align 8
idtr:
    dw (VEC_BASE + 16) * 8 - 1
    dd idt
irq_count:   dd 0
other_count: dd 0
image_end:

section .bss
alignb 8
idt:        resq VEC_BASE + 16
alignb 16
            resb 4096
stack_top:
bss_end:
