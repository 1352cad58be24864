; The x87 through the CPU: ModRM memory operands and segment overrides reaching the FPU, FNSTSW AX,
; FCOMI/FUCOMIP setting EFLAGS, FCMOVcc reading them, integer/BCD stores, FNSAVE/FRSTOR and
; FXSAVE/FXRSTOR images in memory, #MF with CR0.NE=1 reported at the next waiting instruction,
; and #UD for a reserved x87 encoding. (Bit-exact arithmetic is covered by tests/cpu/fpu.)
%include "common.inc"

main:
    mov eax, cr0
    and eax, ~0x0C                              ; EM=0, TS=0
    or eax, 0x22                                ; MP, NE
    mov cr0, eax
    fninit

    ; 1.5 + 2.25 = 3.75 as a single
    fld dword [f_a]
    fadd dword [f_b]
    fstp dword [f_out]
    CHECK 'fadd-m32', [f_out], 0x40700000

    ; 10 / 4 through a [base+index*4+disp] operand, stored as int32 with round-to-nearest-even
    mov ebx, ints
    mov esi, 1
    fild dword [ebx + esi*4 - 4]
    fidiv dword [ebx + esi*4]
    fistp dword [i_out]
    CHECK 'fidiv-fistp', [i_out], 2

    ; sqrt(2) as a double, both halves
    fld1
    fadd st0, st0
    fsqrt
    fstp qword [d_out]
    CHECK 'fsqrt-lo', [d_out], 0x667f3bcd
    CHECK 'fsqrt-hi', [d_out + 4], 0x3ff6a09e

    ; FNSTSW AX after FCOM: 1 < 2 -> C0 set, C2 C3 clear
    fld1
    fld dword [f_two]
    fcomp st1                                   ; 2 vs 1: greater -> C0=C2=C3=0
    fnstsw ax
    and eax, 0x4500
    CHECK 'fnstsw-greater', eax, 0
    fld dword [f_two]
    fcomp st1
    fld1
    fcom st1                                    ; 1 vs 1: equal -> C3
    fnstsw ax
    and eax, 0x4500
    CHECK 'fnstsw-equal', eax, 0x4000
    fstp st0
    fstp st0

    ; FCOMI sets ZF/PF/CF, clears OF/SF/AF
    fld dword [f_two]
    fld1
    mov eax, 0x8d5                              ; OF SF ZF AF PF CF set
    push eax
    popfd
    fcomi st0, st1                              ; 1 < 2 -> CF=1, ZF=0, PF=0
    fcmovb st0, st1                             ; taken on CF=1 (flags must survive until here)
    pushfd
    pop eax
    and eax, 0x8d5
    CHECK 'fcomi-less', eax, 0x001
    fstp dword [f_out]
    CHECK 'fcmovb', [f_out], 0x40000000
    fstp st0

    ; FBSTP: 1234 as packed BCD
    fild dword [i_1234]
    fbstp tword [bcd_out]
    CHECK 'fbstp', [bcd_out], 0x1234

    ; FNSTCW/FLDCW through an ES override, then round toward zero
    mov ax, ds
    mov es, ax
    fnstcw word [es:cw_out]
    movzx eax, word [cw_out]
    CHECK 'fnstcw', eax, 0x37f
    mov word [cw_out], 0xf7f
    fldcw word [cw_out]
    fld dword [f_neg27]                         ; -2.7 -> -2 when truncating
    fistp dword [i_out]
    CHECK 'fistp-rc-zero', [i_out], -2
    fninit

    ; FNSAVE image: control word at +0, tag word empty, then FNINIT state after it
    fld1
    fnsave [save_area]
    movzx eax, word [save_area]
    CHECK 'fnsave-cw', eax, 0x37f
    movzx eax, word [save_area + 8]
    CHECK 'fnsave-tag', eax, 0x3fff
    movzx eax, word [save_area + 4]
    and eax, 0x3800
    CHECK 'fnsave-top', eax, 0x3800
    frstor [save_area]
    fstp dword [f_out]
    CHECK 'frstor-st0', [f_out], 0x3f800000

    ; FXSAVE: FCW at +0, abridged tag (one valid register) at +4 (the MXCSR image without
    ; CR4.OSFXSR is implementation dependent, so it is not checked)
    fninit
    fld1
    fxsave [fx_area]
    movzx eax, word [fx_area]
    CHECK 'fxsave-fcw', eax, 0x37f
    movzx eax, byte [fx_area + 4]
    CHECK 'fxsave-ftw', eax, 0x80
    fninit
    fxrstor [fx_area]
    fstp dword [f_out]
    CHECK 'fxrstor-st0', [f_out], 0x3f800000
    FAULT 'fxsave-misaligned', 13, fxsave [fx_area + 8]

    ; Unmasked zero-divide: FDIV sets ES, the next waiting instruction raises #MF
    fninit
    mov word [cw_out], 0x37b                    ; ZM unmasked
    fldcw word [cw_out]
    fld1
    fldz
    fdivp st1, st0
    FAULT 'mf-next-fwait', 16, fwait
    fnclex
    fninit

    ; A reserved x87 encoding (D9 /1 with a memory operand)
    FAULT 'x87-reserved-ud', 6, db 0xd9, 0x08

    ret

section .data
f_a:      dd 1.5
f_b:      dd 2.25
f_two:    dd 2.0
f_neg27:  dd -2.7
ints:     dd 10, 4
i_1234:   dd 1234
f_out:    dd 0
i_out:    dd 0
d_out:    dq 0
cw_out:   dw 0
align 16
bcd_out:  times 10 db 0
align 16
save_area: times 108 db 0
align 16
fx_area:  times 528 db 0

%include "common_end.inc"
