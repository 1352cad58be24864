; REP string throughput: REP MOVSD copying 64 KiB and REP STOSD filling 64 KiB, repeated.
%include "bench.inc"
ITER  equ 2000
BLOCK equ 65536
SRC   equ 0x200000
DST   equ 0x400000
INSTRUCTIONS equ 2 + ITER*10 + 2 + EXIT_INSNS
BYTES equ ITER * BLOCK * 2

_start:
    mov ebx, ITER
    cld
.loop:
    mov esi, SRC
    mov edi, DST
    mov ecx, BLOCK / 4
    rep movsd
    mov eax, ebx
    mov edi, SRC
    mov ecx, BLOCK / 4
    rep stosd
    dec ebx
    jnz .loop
    mov eax, [DST + 0x1234]
    xor eax, [SRC + 0x5678]
    EXIT_WITH_CHECKSUM
