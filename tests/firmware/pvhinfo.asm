; pvhinfo: a PVH kernel (ELF32 with the note XEN_ELFNOTE_PHYS32_ENTRY, as Linux's vmlinux has) that
; prints on the debug console what the loader handed it: struct hvm_start_info
; (include/xen/interface/hvm/start_info.h), the command line, each module's size and byte sum,
; the memory map and the entry state the direct boot ABI promises; then exits with status 1.
bits 32
EXIT_VALUE equ 0

section .note.Xen note alloc noexec nowrite align=4
    dd 4, 4, 18                 ; namesz ("Xen\0"), descsz, XEN_ELFNOTE_PHYS32_ENTRY
    db 'Xen', 0
    dd _start                   ; physical entry address

; The output routines go first in .text; the entry point is _start, below them.
%include "lib.inc"

section .text
global _start
_start:
    mov esp, stack_top
    pushfd
    pop dword [entry_flags]
    mov ebp, ebx                ; EBX: physical address of struct hvm_start_info
    PRINT 'magic '
    mov eax, [ebp + 0]
    call puthex
    PRINT ' version '
    mov eax, [ebp + 4]
    call putdec
    PRINT ' flags '
    mov eax, [ebp + 8]
    call puthex
    PRINT ' rsdp '
    mov eax, [ebp + 32]
    call puthex
    NEWLINE
    PRINT 'cmdline '
    mov esi, [ebp + 24]
    call putq
    NEWLINE
    PRINT 'modules '
    mov eax, [ebp + 12]
    call putdec
    NEWLINE
    mov ecx, [ebp + 12]
    mov edi, [ebp + 16]         ; struct hvm_modlist_entry[]: paddr, size, cmdline_paddr, reserved (u64 each)
.module:
    jecxz .modules_done
    PRINT 'module size '
    mov eax, [edi + 8]
    call putdec
    PRINT ' sum '
    push ecx
    mov esi, [edi]
    mov ecx, [edi + 8]
    xor eax, eax
    xor edx, edx
.sum:
    jecxz .summed
    mov dl, [esi]
    add eax, edx
    inc esi
    dec ecx
    jmp .sum
.summed:
    call puthex
    pop ecx
    PRINT ' page-aligned '
    mov eax, [edi]
    test eax, 0xfff
    setz al
    movzx eax, al
    call putdec
    NEWLINE
    add edi, 32
    dec ecx
    jmp .module
.modules_done:
    mov ecx, [ebp + 48]
    mov edi, [ebp + 40]         ; struct hvm_memmap_table_entry[]: addr, size (u64), type, reserved (u32)
.mem:
    jecxz .mem_done
    PRINT 'mem '
    mov esi, edi
    call putrange
    NEWLINE
    add edi, 24
    dec ecx
    jmp .mem
.mem_done:
    PRINT 'entry if '
    mov eax, [entry_flags]
    shr eax, 9
    and eax, 1
    call putdec
    PRINT ' pe '
    mov eax, cr0
    and eax, 1
    call putdec
    PRINT ' pg '
    mov eax, cr0
    shr eax, 31
    call putdec
    NEWLINE
    jmp report_exit

section .data
entry_flags: dd 0

section .bss
    resb 4096
stack_top:
