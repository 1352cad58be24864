; Processor exceptions in ring 0 and the EIP each one saves: #DE (DIV/IDIV/AAM), #UD (UD2 and
; invalid encodings), #NM (CR0.TS, CR0.EM, CR0.MP with WAIT), #BP and #OF (traps: EIP after the
; instruction), #BR, #DB single step (and its MOV SS shadow), software INT n, arithmetic flags
; preserved across exception frames, IF through interrupt vs trap gates. Faults are restartable:
; the #NM handler clears CR0.TS and the FPU instruction is executed again.
%include "common.inc"

; TRAP 'name', vector, instruction... — traps, saved EIP = the next instruction
%macro TRAP 3+
    TRY
    %3
%%next:
    CATCH
    CHECK {%1, '-vec'}, [last_vec], %2
    CHECK {%1, '-eip'}, [last_eip], %%next
%endmacro

main:
    ; #DE
    mov eax, 0x1234
    mov edx, 0x5678
    xor ecx, ecx
    FAULT 'de-div-zero', 0, div ecx
    CHECK 'de-eax-unchanged', eax, 0x1234
    CHECK 'de-edx-unchanged', edx, 0x5678
    mov eax, 0x80000000
    mov edx, 0xFFFFFFFF
    mov ecx, -1
    FAULT 'de-idiv-overflow', 0, idiv ecx
    mov ax, 0x1000
    mov bl, 0x10
    FAULT 'de-div8-overflow', 0, div bl
    FAULT 'de-div-mem', 0, div dword [zero]
    FAULT 'de-aam-zero', 0, aam 0
    mov eax, 100
    xor edx, edx
    mov ecx, 7
    div ecx
    CHECK 'div-ok-quotient', eax, 14
    CHECK 'div-ok-remainder', edx, 2

    ; #UD
    FAULT 'ud-ud2', 6, ud2
    FAULT 'ud-ud1', 6, db 0x0F, 0xB9, 0xC0
    FAULT 'ud-lock-nop', 6, db 0xF0, 0x90
    FAULT 'ud-lock-add-reg', 6, db 0xF0, 0x01, 0xD8
    FAULT 'ud-lea-reg', 6, db 0x8D, 0xC3
    FAULT 'ud-mov-cs', 6, db 0x8E, 0xC8
    FAULT 'ud-mov-sreg7', 6, db 0x8E, 0xF8
    FAULT 'ud-mov-cr1', 6, db 0x0F, 0x20, 0xC8
    FAULT 'ud-jmp-far-reg', 6, db 0xFF, 0xE8
    FAULT 'ud-cmpxchg8b-reg', 6, db 0x0F, 0xC7, 0xC8
    mov dword [scratch], 5
    TRY
    lock add dword [scratch], 3             ; LOCK on a memory destination is fine
    CATCH
    CHECK 'lock-add-mem', [scratch], 8

    ; #NM
    mov eax, cr0
    and eax, ~0xE                           ; MP, EM, TS clear
    or eax, 0x20                            ; NE
    mov cr0, eax
    fninit
    mov eax, cr0
    or eax, 8                               ; TS
    mov cr0, eax
    FAULT 'nm-ts', 7, fld1
    mov dword [exc_hook + 7*4], nm_clts
    TRY
.restart:
    fld1                                    ; faults, handler clears TS, runs again
    fstp dword [scratch]
    CATCH
    mov dword [exc_hook + 7*4], 0
    CHECK 'nm-restart-eip', [last_eip], .restart
    CHECK 'nm-restart-result', [scratch], 0x3F800000
    mov eax, cr0
    and eax, 8
    CHECK 'nm-clts', eax, 0
    mov eax, cr0
    or eax, 8                               ; TS, MP clear: WAIT does not fault
    mov cr0, eax
    TRY
    fwait
    CATCH
    CHECK 'nm-wait-mp0', [last_vec], NO_FAULT
    mov eax, cr0
    or eax, 2                               ; TS and MP: WAIT faults
    mov cr0, eax
    FAULT 'nm-wait-mp1', 7, fwait
    clts
    mov eax, cr0
    or eax, 4                               ; EM: FPU instructions fault without TS
    mov cr0, eax
    FAULT 'nm-em', 7, fldz
    TRY
    fwait                                   ; WAIT ignores EM
    CATCH
    CHECK 'nm-em-wait', [last_vec], NO_FAULT
    mov eax, cr0
    and eax, ~4
    mov cr0, eax

    ; traps
    TRAP 'bp-int3', 3, int3
    TRAP 'bp-int-3', 3, int 3
    mov al, 0x7F
    add al, 1                               ; OF=1
    TRAP 'of-into', 4, into
    xor eax, eax                            ; OF=0
    TRY
    into
    CATCH
    CHECK 'of-into-no-overflow', [last_vec], NO_FAULT
    TRAP 'int-n', 0x40, int 0x40
    CHECK 'int-n-no-error-code', [last_err], 0

    ; #BR
    mov eax, 30
    FAULT 'br-above', 5, bound eax, [bounds]
    mov eax, 9
    FAULT 'br-below', 5, bound eax, [bounds]
    TRY
    mov eax, 10
    bound eax, [bounds]
    mov eax, 20
    bound eax, [bounds]
    CATCH
    CHECK 'br-inclusive', [last_vec], NO_FAULT

    ; #DB single step: POPF sets TF, the trap comes after the next instruction
    mov dword [exc_hook + 1*4], db_clear_tf
    xor eax, eax
    mov dr6, eax
    TRY
    pushfd
    or dword [esp], 0x100
    popfd
    mov ebx, 1
.after_step:
    CATCH
    mov dword [exc_hook + 1*4], 0
    CHECK 'db-step-vec', [last_vec], 1
    CHECK 'db-step-eip', [last_eip], .after_step
    mov eax, dr6
    and eax, 0x4000
    CHECK 'db-step-dr6-bs', eax, 0x4000
    pushfd
    pop eax
    and eax, 0x100
    CHECK 'db-tf-cleared', eax, 0

    ; MOV SS holds off the single-step trap for one more instruction
    mov dword [exc_hook + 1*4], db_clear_tf
    mov ax, ss
    TRY
    pushfd
    or dword [esp], 0x100
    popfd
    mov ss, ax                              ; the instruction after POPF: its trap is held off
    mov ebx, 1
.after_shadow:
    CATCH
    mov dword [exc_hook + 1*4], 0
    CHECK 'db-mov-ss-shadow-eip', [last_eip], .after_shadow

    ; arithmetic flags set just before an exception come back through the frame and IRET
    mov eax, 0x7FFFFFFF
    add eax, 1                              ; OF SF AF PF
    TRY
    ud2
    CATCH
    pushfd
    pop eax
    and eax, 0x8D5
    CHECK 'flags-across-fault-add', eax, 0x894
    xor eax, eax
    sub eax, 1                              ; SF AF PF CF
    TRY
    int3
    CATCH
    pushfd
    pop eax
    and eax, 0x8D5
    CHECK 'flags-across-trap-sub', eax, 0x95

    ; an interrupt gate clears IF, a trap gate keeps it (PIC masked: no interrupt can arrive)
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    IDT_GATE 0x41, gate_probe, 0x8E
    IDT_GATE 0x42, gate_probe, 0x8F
    sti
    int 0x41
    mov ebx, [probe_flags]
    int 0x42
    cli
    mov ecx, [probe_flags]
    and ebx, 0x200
    and ecx, 0x200
    CHECK 'interrupt-gate-clears-if', ebx, 0
    CHECK 'trap-gate-keeps-if', ecx, 0x200
    mov eax, 5
    cmp eax, 5                              ; ZF PF
    int 0x41
    pushfd
    pop eax
    and eax, 0x8D5
    CHECK 'flags-across-int-cmp', eax, 0x44
    ret

; records EFLAGS inside the handler
gate_probe:
    push eax
    pushfd
    pop eax
    mov [probe_flags], eax
    pop eax
    iretd

; #NM hook: clear CR0.TS and restart the instruction
nm_clts:
    clts
    ret

; #DB hook: clear TF in the saved EFLAGS and return after the stepped instruction
db_clear_tf:
    and dword [ebp + F_EFLAGS], ~0x100
    ret

section .data
zero:   dd 0
bounds: dd 10, 20
scratch: dd 0
probe_flags: dd 0

%include "common_end.inc"
