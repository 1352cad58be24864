; rom: a firmware ROM of ROM_KIB (64 or 128) KiB for --bios / QEMU's -bios. The CPU starts at
; F000:FFF0 in real mode; the program records the reset state (CS, CR0, EFLAGS, EDX against
; CPUID(1).EAX) and reads the ROM through its mapping below 1 MiB, enters protected mode, compares
; that mapping with the alias below 4 GiB, prints what it found and exits via isa-debug-exit with
; 0x2A. The code lives in the last 64 KiB (segment F000); a 128 KiB ROM's first half holds a marker.

%ifndef ROM_KIB
%define ROM_KIB 64
%endif
ROM_SIZE    equ ROM_KIB * 1024
ROM_LOW     equ 0x100000 - ROM_SIZE         ; where the ROM appears below 1 MiB
ROM_HIGH    equ 0x100000000 - ROM_SIZE      ; and below 4 GiB
SEG_F       equ 0xF0000                     ; linear base of the code's 64 KiB
VARS        equ 0x600                       ; real-mode findings, printed from protected mode
V_CS        equ VARS + 0
V_CR0       equ VARS + 4
V_EFLAGS    equ VARS + 8
V_EDX_OK    equ VARS + 12
V_LOW_MARK  equ VARS + 16                   ; 4 characters and a NUL
EXIT_VALUE  equ 0x2A

%if ROM_KIB == 128
section .low start=0
    db 'LOW!'
%endif
section .text start=ROM_SIZE-0x10000 vstart=SEG_F
section .rodata follows=.text vfollows=.text
section .reset start=ROM_SIZE-16 vstart=SEG_F+0xFFF0

section .text
rom_base:                                   ; linear SEG_F: 16-bit code addresses labels from here
    db 'F000'                               ; the first bytes of a 64 KiB ROM
%include "lib.inc"

section .text
bits 16
start:
    mov ebp, edx                            ; the CPU signature, until something overwrites EDX
    mov esi, cr0
    pushfd
    pop edi
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov [V_CR0], esi
    mov [V_EFLAGS], edi
    mov ax, cs
    movzx eax, ax
    mov [V_CS], eax
    mov eax, 1
    cpuid
    cmp eax, ebp
    sete al
    movzx eax, al
    mov [V_EDX_OK], eax
    mov ax, ROM_LOW >> 4                    ; the ROM's first bytes, through real-mode segmentation
    mov es, ax
    mov eax, [es:0]
    mov [V_LOW_MARK], eax
    mov byte [V_LOW_MARK + 4], 0

    lgdt [cs:gdtr - rom_base]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:pm32

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7000
    PRINT 'reset cs '
    mov eax, [V_CS]
    call puthex
    PRINT ' cr0 '
    mov eax, [V_CR0]
    call puthex
    PRINT ' eflags '
    mov eax, [V_EFLAGS]
    call puthex
    PRINT ' edx=cpuid(1).eax '
    mov eax, [V_EDX_OK]
    call putdec
    NEWLINE
    PRINT 'protected mode cr0.pe '
    mov eax, cr0
    and eax, 1
    call putdec
    PRINT ' cs '
    xor eax, eax
    mov ax, cs
    call puthex
    NEWLINE
    PRINT 'rom start below 1 MiB '
    mov esi, V_LOW_MARK
    call putq
    PRINT ' below 4 GiB '
    mov eax, [ROM_HIGH]
    mov [V_LOW_MARK], eax
    call putq
    NEWLINE
    PRINT 'reset vector below 4 GiB '
    mov eax, [0xFFFFFFF0]
    call puthex
    PRINT ' below 1 MiB '
    mov eax, [0xFFFF0]
    call puthex
    NEWLINE
    mov dword [rom_word], 0                 ; a ROM ignores writes
    PRINT 'rom after write '
    mov eax, [rom_word]
    call puthex
    NEWLINE
    jmp report_exit

section .rodata
rom_word:   dd 0x600DC0DE

section .text                               ; the GDT is read in real mode, relative to rom_base

align 8
gdt:
    dq 0
    dq 0x00CF9B000000FFFF                   ; 0x08 code, flat 32-bit
    dq 0x00CF93000000FFFF                   ; 0x10 data, flat
gdtr:
    dw 3 * 8 - 1
    dd gdt

section .reset
bits 16
    jmp 0xF000:start - SEG_F
    times 16 - ($ - $$) db 0xFF
