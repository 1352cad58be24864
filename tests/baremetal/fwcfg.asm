; fwcfg: a Multiboot kernel in flat a.out-kludge form that reads QEMU's fw_cfg (docs/specs/fw_cfg.rst)
; through the I/O ports — the signature, the interface ID, FW_CFG_NB_CPUS, FW_CFG_MAX_CPUS and
; FW_CFG_RAM_SIZE — and FW_CFG_RAM_SIZE once more through the DMA interface; then the PCI vendor and
; device IDs in slots 0 (the host bridge) and 3 (the network card, when there is one); prints them
; and exits via isa-debug-exit with a word write of 0x33.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000              ; a.out kludge: load the file as it is at 1 MiB
FW_CTL      equ 0x510                   ; 16-bit selector
FW_DATA     equ 0x511                   ; one byte of the selected item per read
FW_DMA_LO   equ 0x518                   ; low half of the big-endian descriptor address
EXIT_VALUE  equ 0x33

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, bss_end, _start

%include "lib.inc"
section .text

; SELECT key
%macro SELECT 1
    mov ax, %1
    mov dx, FW_CTL
    out dx, ax
%endmacro

_start:
    cli
    cld
    mov esp, stack_top

    SELECT 0x00                         ; FW_CFG_SIGNATURE
    mov edi, text
    mov ecx, 4
    call read_bytes
    mov byte [text + 4], 0
    PRINT 'signature '
    mov esi, text
    call putq
    NEWLINE

    SELECT 0x01                         ; FW_CFG_ID: bit 0 traditional interface, bit 1 DMA
    PRINT 'id '
    call read_le32
    call puthex
    NEWLINE

    SELECT 0x05                         ; FW_CFG_NB_CPUS (le16)
    PRINT 'nb_cpus '
    call read_le16
    call putdec
    NEWLINE

    SELECT 0x0F                         ; FW_CFG_MAX_CPUS (le16)
    PRINT 'max_cpus '
    call read_le16
    call putdec
    NEWLINE

    SELECT 0x03                         ; FW_CFG_RAM_SIZE (le64)
    PRINT 'ram_size '
    call read_le32
    mov ebx, eax
    call read_le32
    call puthex
    mov eax, ebx
    call puthex
    NEWLINE

    ; DMA: FWCfgDmaAccess {be32 control, be32 length, be64 address}; select RAM_SIZE and read it.
    mov dword [dma_desc], 0x0B000300    ; be32 (0x03 << 16) | SELECT (8) | READ (2)
    mov dword [dma_desc + 4], 0x08000000 ; be32 8
    mov dword [dma_desc + 8], 0
    mov eax, dma_buf
    bswap eax
    mov [dma_desc + 12], eax
    mov eax, dma_desc
    bswap eax
    mov dx, FW_DMA_LO
    out dx, eax                         ; the transfer runs on this write
    PRINT 'dma_ram_size '
    mov eax, [dma_buf + 4]
    call puthex
    mov eax, [dma_buf]
    call puthex
    PRINT ' control '
    mov eax, [dma_desc]
    bswap eax
    call puthex
    NEWLINE

    PRINT 'pci 00:00.0 '
    mov eax, 0x80000000                 ; configuration mechanism #1: bus 0, device 0, register 0
    call pci_read
    PRINT ' 00:03.0 '
    mov eax, 0x80001800
    call pci_read
    NEWLINE

    PRINT 'exit '
    mov eax, EXIT_VALUE
    call puthex
    NEWLINE
    mov ax, EXIT_VALUE
    mov dx, 0xF4
    out dx, ax
    jmp exit

; pci_read: EAX = CONFIG_ADDRESS; prints the dword at CONFIG_DATA
pci_read:
    push eax
    push edx
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    call puthex
    pop edx
    pop eax
    ret

; read_bytes: ECX bytes of the selected item to EDI
read_bytes:
    pushad
    mov dx, FW_DATA
.next:
    in al, dx
    stosb
    loop .next
    popad
    ret

; read_le16 / read_le32: EAX = the next 2 / 4 bytes of the selected item, little-endian
read_le16:
    push ecx
    push edi
    mov dword [word_buf], 0
    mov edi, word_buf
    mov ecx, 2
    call read_bytes
    mov eax, [word_buf]
    pop edi
    pop ecx
    ret
read_le32:
    push ecx
    push edi
    mov edi, word_buf
    mov ecx, 4
    call read_bytes
    mov eax, [word_buf]
    pop edi
    pop ecx
    ret

section .data
align 16
dma_desc:   dd 0, 0, 0, 0
dma_buf:    dd 0xA5A5A5A5, 0xA5A5A5A5
image_end:

section .bss
word_buf:   resd 1
text:       resb 8
alignb 16
            resb 4096
stack_top:
bss_end:
