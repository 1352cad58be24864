; Faults with selector error codes: segment register loads (#GP, #NP, #SS), far jumps and calls,
; LTR/LLDT, and INT n through a not-present gate or past the IDT limit (error code with the IDT
; bit). Each check also verifies that the saved EIP is the faulting instruction.
%include "common.inc"

SEL_XO      equ (GDT_FREE + 0) << 3         ; execute-only code
SEL_NPDATA  equ (GDT_FREE + 1) << 3         ; not-present data
SEL_RODATA  equ (GDT_FREE + 2) << 3         ; read-only data
SEL_NPCODE  equ (GDT_FREE + 3) << 3         ; not-present code
SEL_BEYOND  equ GDT_ENTRIES << 3            ; first selector past the GDT limit
SEL_EMPTY   equ (GDT_FREE + 4) << 3         ; all zero: a system descriptor of reserved type 0

; FAULT_ERR 'name', vector, error code, instruction... — as FAULT (common.inc), and the error
; code must match too.
%macro FAULT_ERR 4+
    FAULT %1, %2, %4
    CHECK {%1, '-err'}, [last_err], %3
%endmacro

main:
    GDT_DESC SEL_XO >> 3, 0, 0xFFFFF, 0x99, 0xC
    GDT_DESC SEL_NPDATA >> 3, 0, 0xFFFFF, 0x13, 0xC
    GDT_DESC SEL_RODATA >> 3, 0, 0xFFFFF, 0x91, 0xC
    GDT_DESC SEL_NPCODE >> 3, 0, 0xFFFFF, 0x1B, 0xC

    ; data segment register loads
    mov ax, SEL_BEYOND
    FAULT_ERR 'fs-beyond-gdt', 13, SEL_BEYOND, mov fs, ax
    mov ax, SEL_BEYOND | 3                  ; RPL bits are not part of the error code
    FAULT_ERR 'fs-beyond-gdt-rpl', 13, SEL_BEYOND, mov fs, ax
    xor eax, eax                            ; a null LDTR (the reset LDTR cache has limit 0xFFFF)
    lldt ax
    mov ax, 0x0C
    FAULT_ERR 'fs-ldt-null', 13, 0x0C, mov fs, ax
    mov ax, SEL_TSS
    FAULT_ERR 'fs-system-desc', 13, SEL_TSS, mov fs, ax
    mov ax, SEL_XO
    FAULT_ERR 'fs-exec-only', 13, SEL_XO, mov fs, ax
    mov ax, SEL_KDATA | 3                   ; RPL 3 > DPL 0
    FAULT_ERR 'fs-rpl-gt-dpl', 13, SEL_KDATA, mov fs, ax
    mov ax, SEL_NPDATA
    FAULT_ERR 'fs-not-present', 11, SEL_NPDATA, mov fs, ax
    mov ax, SEL_NPDATA
    FAULT_ERR 'ds-not-present', 11, SEL_NPDATA, mov ds, ax
    TRY
    mov ax, SEL_KCODE                       ; readable code is fine
    mov fs, ax
    mov ax, SEL_RODATA
    mov gs, ax
    xor eax, eax
    mov fs, ax                              ; null is fine in a data segment register
    CATCH
    CHECK 'fs-valid-loads', [last_vec], NO_FAULT

    ; stack segment loads
    xor eax, eax
    FAULT_ERR 'ss-null', 13, 0, mov ss, ax
    mov ax, SEL_RODATA
    FAULT_ERR 'ss-readonly', 13, SEL_RODATA, mov ss, ax
    mov ax, SEL_KCODE
    FAULT_ERR 'ss-code', 13, SEL_KCODE, mov ss, ax
    mov ax, SEL_UDATA                       ; DPL 3 != CPL 0
    FAULT_ERR 'ss-dpl', 13, SEL_UDATA & ~3, mov ss, ax
    mov ax, SEL_NPDATA                      ; writable but not present: #SS, not #NP
    FAULT_ERR 'ss-not-present', 12, SEL_NPDATA, mov ss, ax
    mov ax, SEL_KDATA
    mov ss, ax

    ; far transfers
    FAULT_ERR 'jmp-far-data', 13, SEL_KDATA, jmp SEL_KDATA:0
    FAULT_ERR 'jmp-far-beyond', 13, SEL_BEYOND, jmp SEL_BEYOND:0
    FAULT_ERR 'jmp-far-not-present', 11, SEL_NPCODE, jmp SEL_NPCODE:0
    FAULT_ERR 'call-far-null', 13, 0, call 0:0
    FAULT_ERR 'call-far-bad-type', 13, SEL_EMPTY, call SEL_EMPTY:0

    ; system segment loads
    mov ax, SEL_TSS                         ; already busy
    FAULT_ERR 'ltr-busy', 13, SEL_TSS, ltr ax
    mov ax, SEL_KDATA
    FAULT_ERR 'lldt-not-ldt', 13, SEL_KDATA, lldt ax
    mov ax, SEL_KDATA
    FAULT_ERR 'ltr-not-tss', 13, SEL_KDATA, ltr ax

    ; INT n: not-present gate -> #NP, past the IDT limit -> #GP; error code = vector*8 + 2 (IDT)
    mov byte [idt + 0x90*8 + 5], 0x0E
    FAULT_ERR 'int-gate-not-present', 11, 0x90*8 + 2, int 0x90
    mov word [idtr], 0xC0*8 - 1
    lidt [idtr]
    FAULT_ERR 'int-past-idt-limit', 13, 0xC0*8 + 2, int 0xC0
    mov word [idtr], 256*8 - 1
    lidt [idtr]

    ; the fault handler left every general register alone
    mov ebx, 0x11111111
    mov ecx, 0x22222222
    mov edi, 0x33333333
    mov ax, SEL_BEYOND
    TRY
    mov fs, ax
    CATCH
    CHECK 'regs-preserved-ebx', ebx, 0x11111111
    CHECK 'regs-preserved-ecx', ecx, 0x22222222
    CHECK 'regs-preserved-edi', edi, 0x33333333
    xor eax, eax
    mov ax, fs
    CHECK 'fs-unchanged-after-fault', eax, 0
    ret

%include "common_end.inc"
