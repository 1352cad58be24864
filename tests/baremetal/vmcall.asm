; vmcall: a Multiboot kernel (flat a.out kludge) that reaches ts86's virtio-net device model by
; VMCALL, the way the default guest's kernel patch does (contract: the ts86 vendor capability).
; It scans PCI bus 0 through 0xCF8/0xCFC for 1AF4:1041, walks the capability list to the common
; configuration (cfg_type 1) and the vendor capability (cfg_type 9, vendor 0x7486: version,
; queue count, one hypercall number per queue), brings the device up with VERSION_1 only and two
; 8-entry queues, then, with no MMIO notify at all:
;   - offers a receive buffer and kicks the receive queue by VMCALL with its number;
;   - offers an ARP request for 10.0.2.2 on the transmit queue and kicks it by VMCALL: the used
;     ring shows the frame consumed and the user-mode network's ARP reply lands in the buffer;
; and checks the rest of the hypercall interface: an unknown number returns -KVM_ENOSYS (-1000),
; KVM_HC_VAPIC_POLL_IRQ (1) returns 0, KVM_HC_CLOCK_PAIRING (9) fills its structure (and refuses
; an unknown clock type with -KVM_EOPNOTSUPP). Prints each result; exits with 0x35 when it got
; that far (a failed step prints FAIL and exits with 0x7f).
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010000
EXIT_VALUE  equ 0x35

; Guest RAM the driver uses (zeroed first): two split queues of QSIZE entries, two buffers.
QSIZE       equ 8
RXQ         equ 0x200000            ; desc at +0, avail (driver) at +0x80, used (device) at +0x100
TXQ         equ 0x201000
TXBUF       equ 0x202000
RXBUF       equ 0x203000
RXBUF_LEN   equ 2048
PAIRING     equ 0x204000            ; struct kvm_clock_pairing
RAM_END     equ 0x205000
AVAIL       equ 0x80
USED        equ 0x100
NET_HDR     equ 12                  ; virtio_net_hdr_v1

; virtio_pci_common_cfg offsets (virtio 1.2, 4.1.4.3)
DRV_FSEL    equ 0x08
DRV_F       equ 0x0c
STATUS      equ 0x14
QSELECT     equ 0x16
QSIZE_REG   equ 0x18
QENABLE     equ 0x1c
QDESC       equ 0x20
QDRIVER     equ 0x28
QDEVICE     equ 0x30

KVM_HC_VAPIC_POLL_IRQ equ 1
KVM_HC_CLOCK_PAIRING  equ 9
UNKNOWN_HC  equ 0x7fff0000          ; far from KVM's numbers and from the dynamic ones (0x10000 up)

mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd mb_header, mb_header, image_end, bss_end, _start

%include "lib.inc"
section .text

; FAIL 'why' — print and stop with 0x7f
%macro FAIL 1
    PRINT 'FAIL '
    PRINT %1
    NEWLINE
    mov al, 0x7f
    jmp exit
%endmacro

_start:
    cli
    cld
    mov esp, stack_top
    mov edi, RXQ
    mov ecx, (RAM_END - RXQ) / 4
    xor eax, eax
    rep stosd

    ; ---- find the function: vendor/device dword 0x10411AF4 on bus 0, function 0
    xor ebx, ebx
.scan:
    mov [pci_dev], ebx
    xor ecx, ecx
    call cfg_read32
    cmp eax, 0x10411AF4
    je .found
    inc ebx
    cmp ebx, 32
    jb .scan
    FAIL 'no virtio-net function on bus 0'
.found:
    PRINT '1af4:1041 at device '
    mov eax, ebx
    call putdec
    NEWLINE

    ; ---- capability list (status bit 4 says there is one)
    mov ecx, 0x06
    call cfg_read8
    test al, 0x10
    jnz .has_caps
    FAIL 'no capability list'
.has_caps:
    mov ecx, 0x34
    call cfg_read8
    mov esi, eax                    ; ESI = current capability
    mov ebp, 48                     ; at most 48 entries fit in 192 bytes: ends a looped list
.cap:
    and esi, 0xfc
    jz .caps_done
    dec ebp
    jz .caps_done
    mov ecx, esi
    call cfg_read8
    cmp al, 0x09                    ; vendor-specific
    jne .next_cap
    lea ecx, [esi + 3]
    call cfg_read8
    cmp al, 1                       ; VIRTIO_PCI_CAP_COMMON_CFG
    jne .not_common
    lea ecx, [esi + 4]
    call cfg_read8
    mov [common_bar], eax
    lea ecx, [esi + 8]
    call cfg_read32
    mov [common_off], eax
    jmp .next_cap
.not_common:
    cmp al, 9                       ; VIRTIO_PCI_CAP_VENDOR_CFG
    jne .next_cap
    lea ecx, [esi + 4]
    call cfg_read16
    cmp eax, 0x7486
    jne .next_cap
    mov [vendor_cap], esi
.next_cap:
    lea ecx, [esi + 1]
    call cfg_read8
    mov esi, eax
    jmp .cap
.caps_done:
    mov esi, [vendor_cap]
    test esi, esi
    jnz .have_vendor
    FAIL 'no ts86 vendor capability'
.have_vendor:
    PRINT 'vendor cap: len '
    lea ecx, [esi + 2]
    call cfg_read8
    mov edx, eax                    ; cap_len
    call putdec
    PRINT ' version '
    lea ecx, [esi + 6]
    call cfg_read8
    call putdec
    PRINT ' queues '
    lea ecx, [esi + 7]
    call cfg_read8
    call putdec
    NEWLINE
    cmp eax, 2
    jae .two_queues
    FAIL 'fewer than two queues listed'
.two_queues:
    lea eax, [eax * 4 + 8]
    cmp edx, eax
    jae .len_ok
    FAIL 'cap_len shorter than its hypercall list'
.len_ok:
    lea ecx, [esi + 8]
    call cfg_read32
    mov [hc_rx], eax
    PRINT 'queue 0 hypercall '
    call puthex
    NEWLINE
    lea ecx, [esi + 12]
    call cfg_read32
    mov [hc_tx], eax
    PRINT 'queue 1 hypercall '
    call puthex
    NEWLINE

    ; ---- the common configuration: BAR (32-bit memory, assigned by the firmware) + offset
    mov ecx, [common_bar]
    cmp ecx, 5
    jbe .bar_ok
    FAIL 'common cfg in no BAR'
.bar_ok:
    lea ecx, [ecx * 4 + 0x10]
    call cfg_read32
    and eax, 0xfffffff0
    jnz .bar_set
    FAIL 'common cfg BAR unassigned'
.bar_set:
    add eax, [common_off]
    mov edi, eax                    ; EDI = common cfg
    ; memory decoding and bus mastering (the device reads and writes the rings)
    mov ecx, 0x04
    call cfg_read16
    or eax, 0x6
    mov ecx, 0x04
    call cfg_write16

    ; ---- bring-up (virtio 1.2, 3.1.1): reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK
    mov byte [edi + STATUS], 0
.reset_wait:
    cmp byte [edi + STATUS], 0
    jne .reset_wait
    mov byte [edi + STATUS], 1
    mov byte [edi + STATUS], 3
    mov dword [edi + DRV_FSEL], 0
    mov dword [edi + DRV_F], 0
    mov dword [edi + DRV_FSEL], 1
    mov dword [edi + DRV_F], 1      ; VIRTIO_F_VERSION_1 (bit 32), nothing else
    mov byte [edi + STATUS], 0x0b
    test byte [edi + STATUS], 0x08
    jnz .features_ok
    FAIL 'FEATURES_OK refused'
.features_ok:
    PRINT 'features ok'
    NEWLINE
    xor eax, eax
    mov ebx, RXQ
    call setup_queue
    mov eax, 1
    mov ebx, TXQ
    call setup_queue
    mov byte [edi + STATUS], 0x0f   ; DRIVER_OK

    ; ---- receive: one device-writable buffer, kicked by VMCALL
    mov dword [RXQ], RXBUF
    mov dword [RXQ + 8], RXBUF_LEN
    mov word [RXQ + 12], 2          ; VIRTQ_DESC_F_WRITE
    mov word [RXQ + AVAIL + 4], 0   ; ring[0] = descriptor 0
    mov word [RXQ + AVAIL + 2], 1   ; idx
    mov eax, [hc_rx]
    xor ebx, ebx                    ; EBX = queue index
    vmcall
    PRINT 'rx kick '
    call puthex
    NEWLINE

    ; ---- transmit: an ARP request for 10.0.2.2 (header + 42-byte frame), kicked by VMCALL
    mov esi, arp_request
    mov edi, TXBUF + NET_HDR
    mov ecx, arp_request_len
    rep movsb
    mov dword [TXQ], TXBUF
    mov dword [TXQ + 8], NET_HDR + arp_request_len
    mov word [TXQ + AVAIL + 4], 0
    mov word [TXQ + AVAIL + 2], 1
    PRINT 'tx used before kick '
    movzx eax, word [TXQ + USED + 2]
    call puthex
    NEWLINE
    mov eax, [hc_tx]
    mov ebx, 1
    vmcall
    PRINT 'tx kick '
    call puthex
    NEWLINE
    mov esi, TXQ + USED + 2
    call wait_used
    PRINT 'tx used '
    call puthex
    NEWLINE
    mov esi, RXQ + USED + 2
    call wait_used
    PRINT 'rx used '
    call puthex
    PRINT ' len '
    mov eax, [RXQ + USED + 8]       ; used.ring[0].len
    call puthex
    NEWLINE
    ; the reply: ethertype, ARP opcode and sender address, big-endian on the wire
    PRINT 'reply ethertype '
    movzx eax, word [RXBUF + NET_HDR + 12]
    xchg al, ah
    call puthex
    PRINT ' op '
    movzx eax, word [RXBUF + NET_HDR + 20]
    xchg al, ah
    call puthex
    PRINT ' from '
    mov eax, [RXBUF + NET_HDR + 28]
    bswap eax
    call puthex
    NEWLINE

    ; ---- the rest of the hypercall interface
    mov eax, UNKNOWN_HC
    vmcall
    PRINT 'unknown '
    call puthex
    NEWLINE
    mov eax, KVM_HC_VAPIC_POLL_IRQ
    vmcall
    PRINT 'vapic_poll_irq '
    call puthex
    NEWLINE
    mov eax, KVM_HC_CLOCK_PAIRING
    mov ebx, PAIRING
    xor ecx, ecx                    ; KVM_CLOCK_PAIRING_WALLCLOCK
    vmcall
    PRINT 'clock_pairing '
    call puthex
    ; sec (s64 at +0) and tsc (u64 at +16) are filled in: both non-zero
    mov eax, [PAIRING]
    or eax, [PAIRING + 4]
    jz .no_sec
    mov eax, [PAIRING + 16]
    or eax, [PAIRING + 20]
    jz .no_sec
    PRINT ' filled'
.no_sec:
    NEWLINE
    mov eax, KVM_HC_CLOCK_PAIRING
    mov ebx, PAIRING
    mov ecx, 1                      ; not a clock type KVM knows
    vmcall
    PRINT 'clock_pairing type 1 '
    call puthex
    NEWLINE
    jmp report_exit

; setup_queue: EAX = queue index, EBX = its memory (desc, avail at +AVAIL, used at +USED); EDI = common cfg
setup_queue:
    mov [edi + QSELECT], ax
    mov word [edi + QSIZE_REG], QSIZE
    mov [edi + QDESC], ebx
    mov dword [edi + QDESC + 4], 0
    lea ecx, [ebx + AVAIL]
    mov [edi + QDRIVER], ecx
    mov dword [edi + QDRIVER + 4], 0
    lea ecx, [ebx + USED]
    mov [edi + QDEVICE], ecx
    mov dword [edi + QDEVICE + 4], 0
    mov word [edi + QENABLE], 1
    ret

; wait_used: ESI = a used ring's idx; EAX = idx once non-zero (the data path may run in another
; thread), or 0 after about 20 s by the TSC (1 GHz on ts86)
wait_used:
    push ecx
    push edx
    rdtsc
    mov ecx, edx
.poll:
    movzx eax, word [esi]
    test eax, eax
    jnz .done
    pause
    rdtsc
    sub edx, ecx
    cmp edx, 5                      ; 5 << 32 cycles
    jb .poll
    xor eax, eax
.done:
    pop edx
    pop ecx
    ret

; ---- PCI configuration mechanism #1, bus 0, device [pci_dev], function 0; ECX = register
; cfg_select: writes the register's dword address to 0xCF8; DX = its byte's data port (0xCFC + offset & 3).
; Clobbers EAX.
cfg_select:
    mov eax, [pci_dev]
    shl eax, 11
    or eax, 0x80000000
    mov edx, ecx
    and edx, 0xfc
    or eax, edx
    mov dx, 0xcf8
    out dx, eax
    mov edx, ecx
    and edx, 3
    add dx, 0xcfc
    ret

; cfg_read8/16/32: EAX = the value (any alignment: assembled from byte reads)
cfg_read8:
    push edx
    call cfg_select
    in al, dx
    movzx eax, al
    pop edx
    ret

cfg_read16:
    push ecx
    push edx
    inc ecx
    call cfg_read8
    mov edx, eax
    shl edx, 8
    dec ecx
    call cfg_read8
    or eax, edx
    pop edx
    pop ecx
    ret

cfg_read32:
    push ecx
    push edx
    add ecx, 2
    call cfg_read16
    mov edx, eax
    shl edx, 16
    sub ecx, 2
    call cfg_read16
    or eax, edx
    pop edx
    pop ecx
    ret

; cfg_write16: ECX = register (even), AX = value
cfg_write16:
    push edx
    push eax
    call cfg_select
    pop eax
    out dx, ax
    pop edx
    ret

section .rodata
arp_request:
    db 0xff, 0xff, 0xff, 0xff, 0xff, 0xff   ; to everyone
    db 0x52, 0x54, 0x00, 0x12, 0x34, 0x56   ; from the card's MAC
    db 0x08, 0x06                           ; ARP
    db 0x00, 0x01, 0x08, 0x00, 6, 4         ; Ethernet, IPv4
    db 0x00, 0x01                           ; request
    db 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15
    db 0, 0, 0, 0, 0, 0, 10, 0, 2, 2        ; who has 10.0.2.2
arp_request_len equ $ - arp_request

section .data
pci_dev:    dd 0
common_bar: dd 0xff
common_off: dd 0
vendor_cap: dd 0
hc_rx:      dd 0
hc_tx:      dd 0
image_end:

section .bss
alignb 16
    resb 4096
stack_top:
bss_end:
