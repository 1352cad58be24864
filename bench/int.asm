; Integer ALU loop: add, imul, xor, shift, lea, sub, rotate, adc, cmp, cmov, a branch taken every
; other iteration, and the loop branch. Registers only.
%include "bench.inc"
ITER equ 10_000_000                         ; even: the inner branch skips exactly ITER/2 times
INSTRUCTIONS equ 6 + ITER*14 + ITER/2 + 4 + EXIT_INSNS
BYTES equ 0

_start:
    mov ecx, ITER
    mov eax, 1
    mov ebx, 2
    mov edx, 3
    mov esi, 4
    mov edi, 5
.loop:
    add eax, ebx
    imul edx, eax, 3
    xor ebx, edx
    shr edx, 3
    lea esi, [eax + ebx*2 + 7]
    sub edi, esi
    rol eax, 5
    adc edx, edi
    cmp eax, ebx
    cmovb eax, esi
    test cl, 1
    jz .even
    add eax, 7                              ; odd ECX only
.even:
    dec ecx
    jnz .loop
    xor eax, ebx
    xor eax, edx
    xor eax, esi
    xor eax, edi
    EXIT_WITH_CHECKSUM
