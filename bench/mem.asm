; Memory workload: loads, stores and read-modify-write through base+index addressing over a
; 1 MiB window, PUSH/POP, and the non-REP string instructions LODSD, STOSD, MOVSB walking two
; other 1 MiB windows (unaligned after the first MOVSB, so some accesses straddle pages).
%include "bench.inc"
ITER equ 6_000_000
SRC  equ 0x200000                           ; 0x200000-0x2FFFFF
DST  equ 0x400000                           ; 0x400000-0x4FFFFF
FILL equ 0x100000 / 4                       ; dwords in SRC's window
INSTRUCTIONS equ 3 + FILL*5 + 7 + ITER*19 + 4 + EXIT_INSNS
BYTES equ 0

_start:
    mov edi, SRC                            ; fill SRC with a pattern
    mov ecx, FILL
    mov eax, 1
.fill:
    mov [edi], eax
    add eax, 0x9E3779B9
    add edi, 4
    dec ecx
    jnz .fill
    mov esp, stack_top
    mov ecx, ITER
    xor ebx, ebx
    mov edx, 0x12345678
    mov esi, SRC
    mov edi, DST
    cld
.loop:
    mov eax, [SRC + ebx]
    add eax, edx
    mov [DST + ebx], eax
    mov edx, [SRC + ebx + 4]
    xor edx, eax
    mov [DST + ebx + 8], edx
    push eax
    pop ebp
    movzx eax, byte [SRC + ebx + 3]
    add [DST + eax*4], ebp
    lodsd
    stosd
    movsb
    and esi, 0x2FFFFF                       ; stay in SRC's window
    and edi, 0x4FFFFF                       ; stay in DST's window
    add ebx, 16
    and ebx, 0xFFFF0
    dec ecx
    jnz .loop
    xor eax, edx
    xor eax, ebp
    xor eax, esi
    xor eax, edi
    EXIT_WITH_CHECKSUM
