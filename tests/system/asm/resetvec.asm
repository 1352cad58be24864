; Reset-vector ROM: a 64 KiB image mapped at 0xF0000 and 0xFFFF0000, entered at F000:FFF0 in real
; mode (QEMU: -bios resetvec.bin). Checks the architectural reset state (CR0, EFLAGS, EDX =
; CPUID(1).EAX, DS), real-mode addressing (segment*16+offset, 16-bit offset wrap), real-mode
; interrupts through the IVT (INT n, #DE saving the IP of the DIV), then enters protected mode,
; checks RAM and the ROM (read-only, aliased below 4 GiB), returns to real mode keeping a 4 GiB
; FS limit ("unreal mode") and reads above 1 MiB through it. All reporting happens in real mode.
bits 16

ROM         equ 0xF0000                     ; linear address of the image
VARS        equ 0x500                       ; results from protected mode (DS = 0)
V_PE        equ VARS + 0
V_CS        equ VARS + 4
V_RAM       equ VARS + 8
V_ROMW      equ VARS + 12
V_ALIAS     equ VARS + 16
V_DE_IP     equ VARS + 20
V_INT       equ VARS + 24
V_EDX       equ VARS + 28
V_CR0       equ VARS + 32
V_EFLAGS    equ VARS + 36
V_CHECKS    equ VARS + 40
V_FAILS     equ VARS + 44
EXIT_PASS   equ 0x10
EXIT_FAIL   equ 0x11

section .text start=0
section .rodata follows=.text
section .reset start=0xFFF0

; CHECK 'name', actual, expected (dword operands; DS = 0)
%macro CHECK 3
[section .rodata]
%%n: db %1, 0
__SECT__
    push dword %3
    push dword %2
    push word %%n
    call check
%endmacro

section .text
start:
    mov ebp, edx                            ; no RAM access yet: keep the reset state in registers
    pushfd
    pop edi
    mov esi, cr0
    xor ax, ax
    mov bx, ds
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov [V_EDX], ebp
    mov [V_EFLAGS], edi
    mov [V_CR0], esi
    mov dword [V_CHECKS], 0
    mov dword [V_FAILS], 0
    movzx ebx, bx
    CHECK 'reset-ds', ebx, 0
    mov eax, 1
    cpuid
    CHECK 'reset-edx-signature', [V_EDX], eax
    CHECK 'reset-eflags', [V_EFLAGS], 0x2
    CHECK 'reset-cr0', [V_CR0], 0x60000010
    xor eax, eax
    mov ax, cs
    CHECK 'reset-far-jump-cs', eax, 0xF000

    ; real-mode addressing
    mov ax, 0x1000
    mov es, ax
    mov dword [es:0x10], 0x12345678
    mov ax, 0x1001
    mov es, ax
    CHECK 'real-segment-arith', [es:0], 0x12345678
    mov ax, 0x2000
    mov es, ax
    mov byte [es:0], 0xAB
    mov bx, 0xFFFF
    mov al, [es:bx + 1]                     ; offset wraps to 0
    movzx eax, al
    CHECK 'real-offset-wrap', eax, 0xAB
    xor ax, ax
    mov es, ax

    ; real-mode interrupts through the IVT
    mov word [0x30*4], int30
    mov word [0x30*4 + 2], 0xF000
    mov word [0*4], de_handler
    mov word [0*4 + 2], 0xF000
    mov dword [V_INT], 0
    mov dx, sp
    int 0x30
    movzx edx, dx
    movzx eax, sp
    CHECK 'real-int-sp', eax, edx
    CHECK 'real-int-ran', [V_INT], 0x5555
    xor dx, dx
    mov ax, 1
    xor cx, cx
.div:
    div cx
    CHECK 'real-de-ip', [V_DE_IP], .div

    ; protected mode
    lgdt [cs:gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(ROM + pm32)

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov ss, ax
    mov esp, 0x7000
    mov eax, cr0
    and eax, 1
    mov [V_PE], eax
    xor eax, eax
    mov ax, cs
    mov [V_CS], eax
    mov dword [0x200000], 0xFEEDFACE
    mov eax, [0x200000]
    mov [V_RAM], eax
    mov eax, [ROM + rom_word]
    mov dword [ROM + rom_word], 0
    mov dword [0xFFFF0000 + rom_word], 0
    xor eax, [ROM + rom_word]
    mov [V_ROMW], eax                       ; 0 if the ROM kept its contents
    mov eax, [0xFFFF0000 + rom_word]
    mov [V_ALIAS], eax
    jmp 0x18:pm16                           ; 16-bit segment with base 0xF0000, FS keeps 4 GiB

bits 16
pm16:
    mov eax, cr0
    and al, ~1
    mov cr0, eax
    jmp 0xF000:real_again
real_again:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    CHECK 'pm-entered', [V_PE], 1
    CHECK 'pm-cs', [V_CS], 0x08
    CHECK 'pm-ram-above-1m', [V_RAM], 0xFEEDFACE
    CHECK 'rom-write-ignored', [V_ROMW], 0
    CHECK 'rom-alias-4g', [V_ALIAS], 0x600DC0DE
    mov eax, cr0
    and eax, 1
    CHECK 'real-mode-again', eax, 0
    mov esi, 0x200000
    mov eax, [fs:esi]                       ; FS still has the 4 GiB limit from protected mode
    CHECK 'unreal-read', eax, 0xFEEDFACE

    cmp dword [V_FAILS], 0
    jne .failed
    mov si, msg_pass
    call puts
    mov al, EXIT_PASS
    out 0xF4, al
    jmp halt
.failed:
    mov si, msg_fail
    call puts
    mov al, EXIT_FAIL
    out 0xF4, al
halt:
    cli
    hlt
    jmp halt

int30:
    mov dword [V_INT], 0x5555
    iret

de_handler:                                 ; skip the 2-byte DIV after recording where it was
    push bp
    mov bp, sp
    mov ax, [bp + 2]
    movzx eax, ax
    mov [V_DE_IP], eax
    add word [bp + 2], 2
    pop bp
    iret

; check(name, actual, expected): pops its arguments
check:
    push bp
    mov bp, sp
    pushad
    inc dword [V_CHECKS]
    mov eax, [bp + 6]
    cmp eax, [bp + 10]
    jne .fail
    mov si, msg_ok
    call puts
    mov si, [bp + 4]
    call puts
    mov al, 10
    out 0xE9, al
    popad
    pop bp
    ret 10
.fail:
    inc dword [V_FAILS]
    mov si, msg_failc
    call puts
    mov si, [bp + 4]
    call puts
    mov si, msg_got
    call puts
    mov eax, [bp + 6]
    call puthex
    mov si, msg_want
    call puts
    mov eax, [bp + 10]
    call puthex
    mov al, 10
    out 0xE9, al
    popad
    pop bp
    ret 10

; puts: CS:SI = zero-terminated string
puts:
    push ax
    push si
.next:
    cs lodsb
    test al, al
    jz .done
    out 0xE9, al
    jmp .next
.done:
    pop si
    pop ax
    ret

puthex:
    push eax
    push ecx
    push edx
    push bx
    mov edx, eax
    mov cx, 8
.digit:
    rol edx, 4
    mov bx, dx
    and bx, 0xF
    mov al, [cs:hexdigits + bx]
    out 0xE9, al
    loop .digit
    pop bx
    pop edx
    pop ecx
    pop eax
    ret

section .rodata
align 8
gdt:
    dq 0
    dq 0x00CF9B000000FFFF                   ; 0x08 code, flat 32-bit
    dq 0x00CF93000000FFFF                   ; 0x10 data, flat
    dq 0x00009B0F0000FFFF                   ; 0x18 code, 16-bit, base 0xF0000, limit 0xFFFF
gdtr:
    dw 4*8 - 1
    dd ROM + gdt
rom_word:   dd 0x600DC0DE
hexdigits:  db '0123456789abcdef'
msg_ok:     db 'ok ', 0
msg_failc:  db 'FAIL ', 0
msg_got:    db ': got ', 0
msg_want:   db ' want ', 0
msg_pass:   db 'PASS', 10, 0
msg_fail:   db 'FAIL', 10, 0

section .reset
    jmp 0xF000:start
    times 16 - ($ - $$) db 0xFF
