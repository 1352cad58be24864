; Protected mode and segmentation: the multiboot entry state, loading our own GDT/IDT/TSS/LDT,
; descriptor instructions (SGDT, SIDT, STR, SLDT, LAR, LSL, VERR, VERW), the accessed bit,
; segment bases and a 16-bit code segment. Limit and access-right checks are in seglimit.asm.
%include "common.inc"

SEL_RO      equ (GDT_FREE + 0) << 3         ; fresh (not accessed) data segment
SEL_BASE    equ (GDT_FREE + 1) << 3         ; base 0x300000, limit 0xFFFF
SEL_LIM     equ (GDT_FREE + 2) << 3         ; base 0x300000, limit 0xFFF bytes
SEL_LIMG    equ (GDT_FREE + 3) << 3         ; base 0x300000, limit 0 pages (0xFFF)
SEL_XO      equ (GDT_FREE + 6) << 3         ; execute-only code
SEL_LDT     equ (GDT_FREE + 8) << 3         ; LDT descriptor
SEL_CODE16  equ (GDT_FREE + 9) << 3         ; 16-bit code, base 1 MiB
SEL_RDONLY  equ (GDT_FREE + 10) << 3        ; read-only data
SEL_LDT1    equ (1 << 3) | 4                ; LDT entry 1

main:
    CHECK 'multiboot-magic', [mb_magic], MB_BOOT_MAGIC
    mov eax, cr0
    and eax, 1
    CHECK 'cr0-pe', eax, 1
    mov eax, cr0
    and eax, 0x80000000
    CHECK 'cr0-pg-off', eax, 0

    ; our own tables are in force
    xor eax, eax
    mov ax, cs
    CHECK 'cs-reloaded', eax, SEL_KCODE
    mov ax, ss
    CHECK 'ss-reloaded', eax, SEL_KDATA
    sgdt [scratch]
    movzx eax, word [scratch]
    CHECK 'sgdt-limit', eax, GDT_ENTRIES * 8 - 1
    CHECK 'sgdt-base', [scratch + 2], gdt
    sidt [scratch]
    movzx eax, word [scratch]
    CHECK 'sidt-limit', eax, 256 * 8 - 1
    CHECK 'sidt-base', [scratch + 2], idt
    xor eax, eax
    str ax
    CHECK 'str', eax, SEL_TSS
    movzx eax, byte [gdt + SEL_TSS + 5]
    CHECK 'ltr-sets-busy', eax, 0x8B
    mov eax, 0xFFFF
    sldt ax
    CHECK 'sldt-null', eax, 0

    ; descriptors for the rest
    GDT_DESC SEL_RO >> 3, 0, 0xFFFFF, 0x92, 0xC
    GDT_DESC SEL_BASE >> 3, 0x300000, 0xFFFF, 0x93, 0x4
    GDT_DESC SEL_LIM >> 3, 0x300000, 0xFFF, 0x93, 0x4
    GDT_DESC SEL_LIMG >> 3, 0x300000, 0, 0x93, 0xC
    GDT_DESC SEL_XO >> 3, 0, 0xFFFFF, 0x99, 0xC
    GDT_DESC SEL_LDT >> 3, ldt, 15, 0x82, 0x0
    GDT_DESC SEL_CODE16 >> 3, 0x100000, 0xFFFF, 0x9B, 0x0
    GDT_DESC SEL_RDONLY >> 3, 0x300000, 0xFFFF, 0x91, 0x4

    ; LAR / LSL / VERR / VERW
    mov ebx, SEL_KCODE
    xor eax, eax
    lar eax, ebx
    and eax, 0x00F0FF00                     ; bits 19:16 are undefined
    CHECK 'lar-code', eax, 0x00C09B00
    mov ebx, SEL_TSS
    lar eax, ebx
    and eax, 0x00F0FF00
    CHECK 'lar-tss-busy', eax, 0x00008B00
    mov eax, 0x12345678
    xor ebx, ebx
    lar eax, ebx                            ; null selector: ZF=0, EAX unchanged
    setz cl
    movzx ecx, cl
    CHECK 'lar-null-zf', ecx, 0
    CHECK 'lar-null-unchanged', eax, 0x12345678
    mov ebx, SEL_KDATA
    lsl eax, ebx
    CHECK 'lsl-flat', eax, 0xFFFFFFFF
    mov ebx, SEL_LIM
    lsl eax, ebx
    CHECK 'lsl-bytes', eax, 0xFFF
    mov ebx, SEL_LIMG
    lsl eax, ebx
    CHECK 'lsl-pages', eax, 0xFFF
    mov ebx, SEL_TSS
    lsl eax, ebx
    CHECK 'lsl-tss', eax, TSS_SIZE + IOMAP_BYTES - 1
    mov ax, SEL_KCODE
    verr ax
    setz cl
    movzx ecx, cl
    CHECK 'verr-code', ecx, 1
    verw ax
    setz cl
    movzx ecx, cl
    CHECK 'verw-code', ecx, 0
    mov ax, SEL_XO
    verr ax
    setz cl
    movzx ecx, cl
    CHECK 'verr-exec-only', ecx, 0
    mov ax, SEL_KDATA
    verw ax
    setz cl
    movzx ecx, cl
    CHECK 'verw-data', ecx, 1
    mov ax, SEL_RDONLY
    verw ax
    setz cl
    movzx ecx, cl
    CHECK 'verw-readonly', ecx, 0

    ; loading a segment register sets the descriptor's accessed bit
    movzx eax, byte [gdt + SEL_RO + 5]
    CHECK 'accessed-before', eax, 0x92
    mov ax, SEL_RO
    mov es, ax
    movzx eax, byte [gdt + SEL_RO + 5]
    CHECK 'accessed-after', eax, 0x93
    mov ax, SEL_KDATA
    mov es, ax

    ; segment base
    mov ax, SEL_BASE
    mov fs, ax
    mov dword [fs:0x10], 0xCAFEBABE
    CHECK 'seg-base-write', [0x300010], 0xCAFEBABE
    mov dword [0x300020], 0x600DF00D
    CHECK 'seg-base-read', [fs:0x20], 0x600DF00D

    ; LDT
    mov ax, SEL_LDT
    lldt ax
    xor eax, eax
    sldt ax
    CHECK 'sldt', eax, SEL_LDT
    mov ax, SEL_LDT1
    mov fs, ax
    CHECK 'ldt-segment', [fs:0x10], 0xCAFEBABE
    mov ebx, SEL_LDT1
    lsl eax, ebx
    CHECK 'ldt-lsl', eax, 0xFFFF
    xor eax, eax
    mov fs, ax
    lldt ax

    ; 16-bit code segment: operand size defaults to 16 bits
    mov eax, 0xFFFFFFFF
    jmp SEL_CODE16:(code16 - $$)
back32:
    CHECK 'code16-operand-size', eax, 0xFFFF1234
    xor eax, eax
    mov ax, cs
    CHECK 'code16-return', eax, SEL_KCODE
    ret

bits 16
code16:
    mov ax, 0x1234
    jmp dword SEL_KCODE:back32
bits 32

section .data
ldt:
    dq 0
    dq 0x00409330_0000FFFF                  ; base 0x300000, limit 0xFFFF, data
scratch: times 4 dd 0

%include "common_end.inc"
