; Timer deadlines under the virtual clock (1 ns of guest time per retired instruction, TSC at
; 1 GHz, LAPIC timer bus clock 1 GHz): each timer is armed at an odd point while the CPU runs, and
; its interrupt handler reads the TSC as its first instruction. TSC-deadline and LAPIC one-shot /
; periodic interrupts must arrive on the very instruction their deadline names; the PIT (mode 0,
; through the 8259) and the RTC periodic interrupt (IRQ 8) within one tick of their input clock.
; The recorded times go to COM1: the harness runs this with many host slice sizes and requires the
; serial output to be byte-identical.
%include "common.inc"

LAPIC       equ 0xFEE00000
VEC_LAPIC   equ 0x40
VEC_PIC     equ 0x50                        ; master 8259 base (IRQ 0..7), slave at 0x58

%macro ARM_AT_ODD_POINT 1                    ; %1 filler instructions first
%rep %1
    nop
%endrep
%endmacro

; WAIT_HITS n: interrupts on until n timer interrupts were recorded.
%macro WAIT_HITS 1
    sti
%%w: cmp dword [nhits], %1
    jb %%w
    cli
%endmacro

main:
    IDT_GATE VEC_LAPIC, lapic_isr, 0x8E
    IDT_GATE VEC_PIC, pit_isr, 0x8E
    IDT_GATE VEC_PIC + 8, rtc_isr, 0x8E
    mov dword [LAPIC + 0xF0], 0x1FF         ; APIC software-enabled, spurious vector 0xFF
    mov dword [LAPIC + 0x3E0], 0xB          ; timer divide by 1

    ; TSC-deadline: the interrupt comes at exactly the deadline.
    mov dword [LAPIC + 0x320], VEC_LAPIC | (2 << 17)
    call reset_hits
    ARM_AT_ODD_POINT 7
    rdtsc
    add eax, 3001
    adc edx, 0
    mov [expect], eax
    mov ecx, 0x6E0
    wrmsr
    WAIT_HITS 1
    CHECK 'tsc-deadline-exact', [hit_tsc], [expect]
    call report_hits

    ; One-shot: the count reaches zero 2999 ns after the write (the instruction after RDTSC).
    mov dword [LAPIC + 0x320], VEC_LAPIC
    call reset_hits
    ARM_AT_ODD_POINT 13
    rdtsc
    mov dword [LAPIC + 0x380], 2999
    add eax, 1 + 2999
    mov [expect], eax
    WAIT_HITS 1
    CHECK 'lapic-oneshot-exact', [hit_tsc], [expect]
    call report_hits

    ; Periodic: every 1733 ns from the write.
    mov dword [LAPIC + 0x320], VEC_LAPIC | (1 << 17)
    call reset_hits
    ARM_AT_ODD_POINT 5
    rdtsc
    mov dword [LAPIC + 0x380], 1733
    add eax, 1 + 1733
    mov [expect], eax
    WAIT_HITS 4
    mov dword [LAPIC + 0x380], 0            ; stop
    CHECK 'lapic-periodic-first', [hit_tsc], [expect]
    mov eax, [hit_tsc + 12]
    sub eax, [hit_tsc]
    mov [delta], eax
    CHECK 'lapic-periodic-3-periods', [delta], 3 * 1733
    call report_hits

    ; 8259 pair: IRQ 0 and 8 (through the cascade) unmasked, LINT0 virtual wire.
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, VEC_PIC
    out 0x21, al
    mov al, VEC_PIC + 8
    out 0xA1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xA1, al
    mov al, 1
    out 0x21, al
    out 0xA1, al
    mov al, 0xFA                            ; IRQ 0 and 2
    out 0x21, al
    mov al, 0xFE                            ; IRQ 8
    out 0xA1, al

    ; PIT channel 0, mode 0, count 5000: 5000 / 1.193182 MHz = 4190476 ns after the count is written.
    call reset_hits
    mov al, 0x30
    out 0x43, al
    mov al, 5000 & 0xFF
    out 0x40, al
    ARM_AT_ODD_POINT 3
    rdtsc
    mov [t0], eax
    mov al, 5000 >> 8
    out 0x40, al
    WAIT_HITS 1
    mov eax, [hit_tsc]
    sub eax, [t0]
    sub eax, 4190476 - 838                  ; within [-1, +2] PIT clocks of the nominal time
    cmp eax, 3 * 838
    setb al
    movzx eax, al
    mov [ok], eax
    CHECK 'pit-oneshot-on-time', [ok], 1
    call report_hits

    ; RTC periodic interrupt at 1024 Hz (976562.5 ns).
    call reset_hits
    mov al, 0x0A
    out 0x70, al
    mov al, 0x26
    out 0x71, al
    mov al, 0x0B
    out 0x70, al
    in al, 0x71
    or al, 0x40
    mov ah, al
    mov al, 0x0B
    out 0x70, al
    ARM_AT_ODD_POINT 11
    mov al, ah
    out 0x71, al
    WAIT_HITS 3
    mov al, 0x0B
    out 0x70, al
    in al, 0x71
    and al, ~0x40
    out 0x71, al
    mov eax, [hit_tsc + 8]
    sub eax, [hit_tsc]
    sub eax, 2 * 976562
    cmp eax, 2
    setb al
    movzx eax, al
    mov [ok], eax
    CHECK 'rtc-periodic-two-periods', [ok], 1
    call report_hits
    ret

reset_hits:
    mov dword [nhits], 0
    ret

; report_hits: each recorded TSC, less the first, in hex on COM1; then the first's low 16 bits.
report_hits:
    pushad
    mov ecx, [nhits]
    xor ebx, ebx
.next:
    cmp ebx, ecx
    jae .done
    mov eax, [hit_tsc + ebx*4]
    sub eax, [hit_tsc]
    test ebx, ebx
    jnz .put
    mov eax, [hit_tsc]
    and eax, 0xFFFF
.put:
    call serial_hex
    inc ebx
    jmp .next
.done:
    popad
    ret

; serial_hex: EAX as 8 hex digits and a newline on COM1.
serial_hex:
    pushad
    mov edx, eax
    mov ecx, 8
.digit:
    rol edx, 4
    mov eax, edx
    and eax, 0xF
    mov al, [hexdigits + eax]
    push edx
    mov dx, 0x3F8
    out dx, al
    pop edx
    loop .digit
    mov al, 10
    mov dx, 0x3F8
    out dx, al
    popad
    ret

; The handlers read the TSC first; the code they interrupt only waits on nhits.
lapic_isr:
    rdtsc
    mov edx, [nhits]
    mov [hit_tsc + edx*4], eax
    inc dword [nhits]
    mov dword [LAPIC + 0xB0], 0
    iretd

pit_isr:
    rdtsc
    mov edx, [nhits]
    mov [hit_tsc + edx*4], eax
    inc dword [nhits]
    mov al, 0x20
    out 0x20, al
    iretd

rtc_isr:
    rdtsc
    mov edx, [nhits]
    mov [hit_tsc + edx*4], eax
    inc dword [nhits]
    mov al, 0x0C
    out 0x70, al
    in al, 0x71
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    iretd

section .data
nhits:      dd 0
hit_tsc:    times 16 dd 0
expect:     dd 0
delta:      dd 0
t0:         dd 0
ok:         dd 0

%include "common_end.inc"
