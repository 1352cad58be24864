; Self-modifying and remapped code, for engines that cache decoded instructions: a patched
; immediate in already-executed code, a store into the very next instruction of the running
; block, REP MOVSB copying new code over old, a write through a second linear alias of the code's
; physical page, the same linear code page remapped to another frame (INVLPG), and one physical
; page executed at two linear addresses.
%include "common.inc"

CODE_PAGE   equ 0x300000                    ; physical frames for generated code
CODE_PAGE2  equ 0x301000
VCODE       equ 0x800000                    ; linear page remapped between the two
VALIAS      equ 0x801000                    ; second linear address of CODE_PAGE

main:
    ; a function already executed, then its immediate patched
    call patched_fn
    CHECK 'smc-before-patch', eax, 0x11111111
    mov dword [patched_fn + 1], 0x22222222
    call patched_fn
    CHECK 'smc-patched-immediate', eax, 0x22222222

    ; a loop whose body is patched by itself on the first pass
    xor ebx, ebx
    mov ecx, 2
.loop:
    mov eax, 0x33333333
.loop_imm equ $ - 4
    add ebx, eax
    mov dword [.loop_imm], 0x01010101
    dec ecx
    jnz .loop
    CHECK 'smc-loop-body', ebx, 0x33333333 + 0x01010101

    ; a store into the next instruction of the running block
    mov byte [.next + 1], 0x42
.next:
    mov al, 0x00
    movzx eax, al
    CHECK 'smc-next-instruction', eax, 0x42

    ; REP MOVSB new code over code that ran
    mov esi, code_ret_a
    mov edi, CODE_PAGE
    mov ecx, 6
    rep movsb
    mov ebx, CODE_PAGE
    call ebx
    CHECK 'smc-copy-first', eax, 0xAAAA
    mov esi, code_ret_b
    mov edi, CODE_PAGE
    mov ecx, 6
    rep movsb
    call ebx
    CHECK 'smc-rep-movsb-over-code', eax, 0xBBBB

    ; paging: write through an alias of the code's physical page
    call paging_init
    mov eax, VALIAS
    mov ebx, CODE_PAGE + 3
    call map4k
    mov eax, VCODE
    mov ebx, CODE_PAGE + 3
    call map4k
    mov ebx, VCODE
    call ebx
    CHECK 'smc-linear-code', eax, 0xBBBB
    mov dword [VALIAS + 1], 0xCCCC          ; patch the immediate through the alias
    call ebx
    CHECK 'smc-write-through-alias', eax, 0xCCCC
    mov ebx, VALIAS
    call ebx
    CHECK 'smc-execute-alias', eax, 0xCCCC

    ; the same linear page remapped to a frame with other code
    mov esi, code_ret_d
    mov edi, CODE_PAGE2
    mov ecx, 6
    rep movsb
    mov eax, VCODE
    mov ebx, CODE_PAGE2 + 3
    call map4k
    mov ebx, VCODE
    call ebx
    CHECK 'smc-remapped-page', eax, 0xDDDD
    mov eax, VCODE
    mov ebx, CODE_PAGE + 3
    call map4k
    mov ebx, VCODE
    call ebx
    CHECK 'smc-remapped-back', eax, 0xCCCC
    ret

patched_fn:
    mov eax, 0x11111111
    ret

section .rodata
code_ret_a: db 0xB8, 0xAA, 0xAA, 0x00, 0x00, 0xC3   ; mov eax, 0xAAAA; ret
code_ret_b: db 0xB8, 0xBB, 0xBB, 0x00, 0x00, 0xC3
code_ret_d: db 0xB8, 0xDD, 0xDD, 0x00, 0x00, 0xC3

%include "common_end.inc"
