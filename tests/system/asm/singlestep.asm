; Single-step traps (EFLAGS.TF): a REP string instruction traps after every iteration with EIP
; still at the instruction until the last one (REP MOVS/STOS in bulk-sized runs, REPE CMPS,
; REPNE SCAS, REP LODS), and whether an instruction traps is decided by TF as it was when the
; instruction began: POPF setting TF does not trap, POPF or IRET clearing it traps once; STI and
; MOV SS hold their trap over the next instruction.
%include "common.inc"

MAX_TRAPS   equ 64

; STEP_CHECK index, label, ECX — trap number `index` reported EIP = label with that ECX.
%macro STEP_CHECK 3
    CHECK {'trap', %str(%1), '-eip'}, [trap_eip + %1*4], %2
    CHECK {'trap', %str(%1), '-ecx'}, [trap_ecx + %1*4], %3
%endmacro

main:
    mov dword [exc_hook + 1*4], db_hook
    mov esi, src
    mov edi, dst
    cld
    pushfd
    or dword [esp], 0x100
    popfd                                   ; TF was clear when POPF began: no trap
at0: mov ecx, 3
at1: rep movsb
at2: mov ecx, 4
at3: mov esi, src
at4: mov edi, dst2
at5: repe cmpsb                              ; src and dst2 differ at the third byte
at6: mov ecx, 5
at7: mov al, 'c'
at8: mov edi, src
at9: repne scasb                             ; 'c' is the third byte
at10: mov ecx, 3
at11: mov eax, 0x11223344
at12: mov edi, big
at13: rep stosd                              ; RAM pages take the bulk path without TF
at14: mov ecx, 2
at15: mov esi, big
at16: mov edi, big + 64
at17: rep movsd
at18: mov ecx, 2
at19: mov esi, src
at20: rep lodsb
at21: xor ecx, ecx
at22: rep movsb                              ; no iteration: one trap, after it
at23: pushfd
at24: and dword [esp], ~0x100
at25: popfd                                  ; TF set when POPF began: traps once, after it
at26: nop
    ; IRET that clears TF traps once, after itself (at its target).
    pushfd
    or dword [esp], 0x100
    popfd
ut0: push dword 0x2
ut1: push dword SEL_KCODE
ut2: push dword ut4
ut3: iretd
ut4: nop
    ; STI and MOV SS hold the trap over the next instruction (one trap for both), as the
    ; interrupt shadow does (QEMU agrees; VMX's pending-debug BS rule for STI/MOV SS blocking).
    pushfd
    or dword [esp], 0x100
    popfd
v0: sti
v1: cli
v2: mov ax, ss
v3: mov ss, ax
v4: nop
v5: pushfd
v6: and dword [esp], ~0x100
v7: popfd
v8: nop
    CHECK 'traps', [traps], 46
    STEP_CHECK 0, at1, 3
    STEP_CHECK 1, at1, 2
    STEP_CHECK 2, at1, 1
    STEP_CHECK 3, at2, 0
    STEP_CHECK 4, at3, 4
    STEP_CHECK 5, at4, 4
    STEP_CHECK 6, at5, 4
    STEP_CHECK 7, at5, 3
    STEP_CHECK 8, at5, 2
    STEP_CHECK 9, at6, 1
    STEP_CHECK 10, at7, 5
    STEP_CHECK 11, at8, 5
    STEP_CHECK 12, at9, 5
    STEP_CHECK 13, at9, 4
    STEP_CHECK 14, at9, 3
    STEP_CHECK 15, at10, 2
    STEP_CHECK 16, at11, 3
    STEP_CHECK 17, at12, 3
    STEP_CHECK 18, at13, 3
    STEP_CHECK 19, at13, 2
    STEP_CHECK 20, at13, 1
    STEP_CHECK 21, at14, 0
    STEP_CHECK 22, at15, 2
    STEP_CHECK 23, at16, 2
    STEP_CHECK 24, at17, 2
    STEP_CHECK 25, at17, 1
    STEP_CHECK 26, at18, 0
    STEP_CHECK 27, at19, 2
    STEP_CHECK 28, at20, 2
    STEP_CHECK 29, at20, 1
    STEP_CHECK 30, at21, 0
    STEP_CHECK 31, at22, 0
    STEP_CHECK 32, at23, 0
    STEP_CHECK 33, at24, 0
    STEP_CHECK 34, at25, 0
    STEP_CHECK 35, at26, 0
    STEP_CHECK 36, ut1, 0
    STEP_CHECK 37, ut2, 0
    STEP_CHECK 38, ut3, 0
    STEP_CHECK 39, ut4, 0
    STEP_CHECK 40, v2, 0
    STEP_CHECK 41, v3, 0
    STEP_CHECK 42, v5, 0
    STEP_CHECK 43, v6, 0
    STEP_CHECK 44, v7, 0
    STEP_CHECK 45, v8, 0
    CHECK 'rep-movsb-data', [dst], 0x5A636261
    CHECK 'rep-stosd-data', [big + 8], 0x11223344
    CHECK 'rep-movsd-data', [big + 68], 0x11223344
    CHECK 'dr6-bs', [dr6_seen], 0x4000
    ret

; #DB: record EIP and ECX of each single-step trap (DR6.BS set), and clear DR6.
db_hook:
    mov eax, dr6
    and eax, 0x4000
    mov [dr6_seen], eax
    xor eax, eax
    mov dr6, eax
    mov ecx, [traps]
    mov eax, [ebp + F_EIP]
    cmp ecx, MAX_TRAPS
    jae .full
    mov [trap_eip + ecx*4], eax
    mov eax, [ebp + F_ECX]
    mov [trap_ecx + ecx*4], eax
.full:
    inc dword [traps]
    ret

section .data
src:        db 'abcdefgh'
dst:        times 8 db 0x5A
dst2:       db 'abXdefgh'
traps:      dd 0
dr6_seen:   dd 0

section .bss
trap_eip:   resd MAX_TRAPS
trap_ecx:   resd MAX_TRAPS
alignb 4096
big:        resb 4096

%include "common_end.inc"
