; Double fault through a task gate, the way i386 Linux catches kernel stack overflows: recursion
; runs the ring-0 stack into an unmapped guard page; the #PF cannot push its frame on that stack, so
; the CPU raises #DF, whose IDT entry is a task gate to a TSS with a good stack. The #DF task checks
; what the task switch did (error code on its stack, back link, NT, busy bits, TR, the interrupted
; state saved in the old TSS, CR2), maps the guard page, and IRETs back to the interrupted task,
; which then finishes its recursion.
%include "common.inc"

GUARD       equ 0x380000                    ; unmapped page under the recursion stack
STACK_TOP   equ 0x384000                    ; three mapped pages above it
DEPTH       equ 3072 + 100                  ; calls that overflow 100 dwords into the guard page
FAULT_ECX   equ DEPTH - 3072                ; ECX in the level whose call faults

main:
    call paging_init
    mov dword [pt0 + (GUARD >> 12)*4], 0
    invlpg [GUARD]

    ; #DF task
    mov dword [tss_df + 0x1C], pgdir        ; CR3
    mov dword [tss_df + 0x20], df_task      ; EIP
    mov dword [tss_df + 0x24], 0x2          ; EFLAGS
    mov dword [tss_df + 0x38], df_stack_top ; ESP
    mov dword [tss_df + 0x48], SEL_KDATA    ; ES
    mov dword [tss_df + 0x4C], SEL_KCODE    ; CS
    mov dword [tss_df + 0x50], SEL_KDATA    ; SS
    mov dword [tss_df + 0x54], SEL_KDATA    ; DS
    mov dword [tss_df + 0x58], SEL_KDATA    ; FS
    mov dword [tss_df + 0x5C], SEL_KDATA    ; GS
    mov word [tss_df + 0x66], TSS_SIZE
    GDT_DESC SEL_TSS2 >> 3, tss_df, TSS_SIZE - 1, 0x89, 0x0
    mov dword [tss_main + 0x1C], pgdir      ; the CPU does not save CR3 on a task switch
    IDT_GATE 8, 0, 0x85, SEL_TSS2

    mov [saved_esp], esp
    mov esp, STACK_TOP
    mov ecx, DEPTH
    call recurse
    mov esp, [saved_esp]

    CHECK 'df-task-ran', [df_ran], 1
    CHECK 'df-resumed-after-iret', ecx, 0
    xor eax, eax
    str ax
    CHECK 'df-iret-tr', eax, SEL_TSS
    movzx eax, byte [gdt + SEL_TSS2 + 5]
    CHECK 'df-iret-clears-busy', eax, 0x89
    movzx eax, byte [gdt + SEL_TSS + 5]
    CHECK 'df-iret-old-busy', eax, 0x8B
    pushfd
    pop eax
    and eax, 0x4000
    CHECK 'df-iret-nt-clear', eax, 0
    CHECK 'df-task-eip-saved', [tss_df + 0x20], df_after_iret
    ret

recurse:
    dec ecx
    jz .done
.call:
    call recurse
.done:
    ret

; the #DF task
df_task:
    mov [df_esp], esp
    pop dword [df_err]
    mov eax, cr2
    mov [df_cr2], eax
    xor eax, eax
    str ax
    mov [df_tr], eax
    pushfd
    pop eax
    and eax, 0x4000
    mov [df_nt], eax
    PRINTLN 'double fault task running'
    mov dword [df_ran], 1
    CHECK 'df-esp', [df_esp], df_stack_top - 4
    CHECK 'df-error-code', [df_err], 0
    CHECK 'df-cr2', [df_cr2], GUARD + 0xFFC
    CHECK 'df-tr', [df_tr], SEL_TSS2
    CHECK 'df-nt', [df_nt], 0x4000
    movzx eax, word [tss_df]
    CHECK 'df-back-link', eax, SEL_TSS
    movzx eax, byte [gdt + SEL_TSS2 + 5]
    CHECK 'df-new-busy', eax, 0x8B
    movzx eax, byte [gdt + SEL_TSS + 5]
    CHECK 'df-old-busy', eax, 0x8B
    CHECK 'df-saved-esp', [tss_main + 0x38], GUARD + 0x1000
    CHECK 'df-saved-eip', [tss_main + 0x20], recurse.call
    CHECK 'df-saved-ecx', [tss_main + 0x2C], FAULT_ECX
    CHECK 'df-saved-cs', [tss_main + 0x4C], SEL_KCODE
    ; map the guard page and return to the interrupted task
    mov dword [pt0 + (GUARD >> 12)*4], GUARD + 3
    invlpg [GUARD]
    iretd
df_after_iret:
    PRINTLN 'FAIL double fault task resumed'
    mov al, EXIT_ABORT
    jmp exit

section .data
saved_esp:  dd 0
df_ran:     dd 0
df_esp:     dd 0
df_err:     dd 0xFFFF
df_cr2:     dd 0
df_tr:      dd 0
df_nt:      dd 0

section .bss
alignb 16
            resb 8192
df_stack_top:

%include "common_end.inc"
