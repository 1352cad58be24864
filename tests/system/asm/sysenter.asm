; SYSENTER/SYSEXIT: CPUID.SEP, the SYSENTER MSRs (0x174 CS, 0x175 ESP, 0x176 EIP) with RDMSR
; read-back, a ring 3 -> ring 0 -> ring 3 round trip (selectors derived from MSR 0x174, stacks and
; EIPs from the MSRs and ECX/EDX, flags kept except IF/VM/RF), and the #GP(0) cases: SYSEXIT from
; ring 3 and SYSENTER with a null MSR 0x174.
%include "common.inc"

MSR_CS  equ 0x174
MSR_ESP equ 0x175
MSR_EIP equ 0x176

%macro WRMSR 2
    mov ecx, %1
    mov eax, %2
    xor edx, edx
    wrmsr
%endmacro

; RDMSR_CHECK 'name', msr, expected low dword (high dword must be 0)
%macro RDMSR_CHECK 3
    mov ecx, %2
    mov eax, 0xDEAD
    mov edx, 0xDEAD
    rdmsr
    CHECK {%1, '-lo'}, eax, %3
    CHECK {%1, '-hi'}, edx, 0
%endmacro

main:
    mov eax, 1
    cpuid
    shr edx, 11
    and edx, 1
    CHECK 'cpuid-sep', edx, 1

    WRMSR MSR_CS, SEL_KCODE
    WRMSR MSR_ESP, sysenter_stack_top
    WRMSR MSR_EIP, sysenter_entry
    RDMSR_CHECK 'msr-sysenter-cs', MSR_CS, SEL_KCODE
    RDMSR_CHECK 'msr-sysenter-esp', MSR_ESP, sysenter_stack_top
    RDMSR_CHECK 'msr-sysenter-eip', MSR_EIP, sysenter_entry

    mov ebx, user_main
    call call_ring3
    CHECK 'sysenter-cs', [k_cs], SEL_KCODE
    CHECK 'sysenter-ss', [k_ss], SEL_KDATA
    CHECK 'sysenter-esp', [k_esp], sysenter_stack_top
    CHECK 'sysenter-cf-kept', [k_cf], 1
    CHECK 'sysenter-eax', [k_eax], 0xABCD
    CHECK 'sysexit-cs', [u_cs], SEL_UCODE
    CHECK 'sysexit-ss', [u_ss], SEL_UDATA
    CHECK 'sysexit-esp', [u_esp_after], [u_esp_before]
    CHECK 'sysexit-eax', [u_eax], 0xDCBA
    CHECK 'sysexit-user-stack-untouched', [u_canary], 0xC0FFEE
    CHECK 'sysexit-ring3-vec', [u_sysexit_vec], 13
    CHECK 'sysexit-ring3-err', [u_sysexit_err], 0

    WRMSR MSR_CS, 0
    mov ebx, user_sysenter_null
    call call_ring3
    CHECK 'sysenter-null-cs-vec', [last_vec], 13
    CHECK 'sysenter-null-cs-err', [last_err], 0
    CHECK 'sysenter-null-cs-from-ring3', [last_cs], SEL_UCODE
    ret

user_main:
    mov dword [esp - 4], 0xC0FFEE
    mov [u_esp_before], esp
    mov ecx, esp
    mov edx, .back
    mov eax, 0xABCD
    stc
    sysenter
.back:
    mov [u_esp_after], esp
    mov [u_eax], eax
    mov ax, cs
    movzx eax, ax
    mov [u_cs], eax
    mov ax, ss
    movzx eax, ax
    mov [u_ss], eax
    mov eax, [esp - 4]
    mov [u_canary], eax
    TRY
    sysexit
    CATCH
    mov eax, [last_vec]
    mov [u_sysexit_vec], eax
    mov eax, [last_err]
    mov [u_sysexit_err], eax
    ret

user_sysenter_null:
    TRY
    sysenter
    CATCH
    ret

; ring 0 through SYSENTER: ECX = user ESP, EDX = user EIP, EAX = argument
sysenter_entry:
    setc byte [k_cf]
    mov [k_eax], eax
    mov [k_esp], esp
    xor eax, eax
    mov ax, cs
    mov [k_cs], eax
    mov ax, ss
    mov [k_ss], eax
    mov eax, 0xDCBA
    sysexit

section .data
k_cs:           dd 0
k_ss:           dd 0
k_esp:          dd 0
k_cf:           dd 0
k_eax:          dd 0
u_cs:           dd 0
u_ss:           dd 0
u_esp_before:   dd 0
u_esp_after:    dd 0
u_eax:          dd 0
u_canary:       dd 0
u_sysexit_vec:  dd 0
u_sysexit_err:  dd 0xFFFF

section .bss
alignb 16
                resb 4096
sysenter_stack_top:

%include "common_end.inc"
