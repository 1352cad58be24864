; mbinfo: a Multiboot v1 kernel in ELF form (nasm -f elf32, ld at 1 MiB) that prints what the boot
; loader handed it — the magic, the info flags, mem_lower/mem_upper, its command line, each
; module's command line, size, page alignment and FNV-1a checksum, the memory map and the loader
; name — on the debug console, one "key value" line each, then exits via isa-debug-exit with 0x20.

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00000003              ; page-aligned modules, memory information; no a.out kludge
EXIT_VALUE  equ 0x20

extern kernel_end                       ; kernel.ld: the first byte after .bss


section .text
global _start
align 4
mb_header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

%include "lib.inc"                      ; after the header, which must come first in the file
section .text

_start:
    cli
    cld
    mov esp, stack_top
    mov [boot_magic], eax
    mov [info], ebx

    PRINT 'magic '
    mov eax, [boot_magic]
    call puthex
    NEWLINE
    mov ebx, [info]
    PRINT 'flags '
    mov eax, [ebx]
    call puthex
    NEWLINE

    test dword [ebx], 1 << 0
    jz .no_mem
    PRINT 'mem_lower '
    mov eax, [ebx + 4]
    call putdec
    NEWLINE
    PRINT 'mem_upper '
    mov eax, [ebx + 8]
    call putdec
    NEWLINE
.no_mem:

    test dword [ebx], 1 << 2
    jz .no_cmdline
    PRINT 'cmdline '
    mov esi, [ebx + 16]
    call putq
    NEWLINE
.no_cmdline:

    test dword [ebx], 1 << 3
    jz .no_mods
    PRINT 'mods_count '
    mov eax, [ebx + 20]
    call putdec
    NEWLINE
    mov ecx, [ebx + 20]
    mov edi, [ebx + 24]
    xor edx, edx
.mod:
    cmp edx, ecx
    jae .no_mods
    call print_module
    add edi, 16
    inc edx
    jmp .mod
.no_mods:

    test dword [ebx], 1 << 6
    jz .no_mmap
    mov edi, [ebx + 48]                 ; mmap_addr: entries of {size, base, length, type}
    mov ecx, edi
    add ecx, [ebx + 44]                 ; mmap_length
.entry:
    cmp edi, ecx
    jae .no_mmap
    PRINT 'mmap '
    lea esi, [edi + 4]
    call putrange
    NEWLINE
    add edi, [edi]
    add edi, 4                          ; `size` does not count itself
    jmp .entry
.no_mmap:

    test dword [ebx], 1 << 9
    jz .no_name
    PRINT 'loader '
    mov esi, [ebx + 64]
    call putq
    NEWLINE
.no_name:

    jmp report_exit

; print_module: EDX = index, EDI = its {mod_start, mod_end, cmdline, reserved} entry
print_module:
    pushad
    PRINT 'mod '
    mov eax, edx
    call putdec
    PRINT ' size '
    mov ecx, [edi + 4]
    sub ecx, [edi]
    mov eax, ecx
    call putdec
    PRINT ' aligned '
    mov eax, [edi]
    test eax, 0xFFF
    setz al
    movzx eax, al
    call putdec
    ; modules must not overlap the kernel image (text, data and bss)
    PRINT ' above_kernel '
    cmp dword [edi], kernel_end
    setae al
    movzx eax, al
    call putdec
    PRINT ' fnv1a '
    mov esi, [edi]
    mov eax, 0x811C9DC5
.byte:
    test ecx, ecx
    jz .sum
    xor al, [esi]
    imul eax, eax, 0x01000193
    inc esi
    dec ecx
    jmp .byte
.sum:
    call puthex
    PRINT ' cmdline '
    mov esi, [edi + 8]
    call putq
    NEWLINE
    popad
    ret

section .bss
boot_magic: resd 1
info:       resd 1
alignb 16
            resb 8192
stack_top:
