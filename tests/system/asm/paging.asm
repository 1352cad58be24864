; Paging: 4 KiB pages, 4 MiB pages (CR4.PSE, and PS ignored without it), global pages (CR4.PGE:
; INVLPG and toggling PGE flush them), TLB flush by MOV CR3 and INVLPG, accessed and dirty bits
; in PTEs and 4 MiB PDEs, CR0.WP for supervisor writes, a recursive page directory, paging off.
%include "common.inc"

PHYS        equ 0x300000                    ; scratch physical frames, 0x300000-0x30FFFF
V4K         equ 0x800000                    ; virtual test pages, through a pool page table

main:
    ; fill the scratch frames so each reads back as its own address
    mov edi, PHYS
.fill:
    mov [edi], edi
    add edi, 4
    cmp edi, PHYS + 0x10000
    jb .fill

    call paging_init
    mov eax, cr0
    and eax, 0x80000000
    CHECK 'paging-on', eax, 0x80000000
    CHECK 'identity-read', [PHYS + 0x10], PHYS + 0x10

    ; 4 KiB alias of a scratch frame
    mov eax, V4K
    mov ebx, PHYS + 0x3
    call map4k
    CHECK 'alias-read', [V4K + 0x24], PHYS + 0x24
    mov dword [V4K + 0x28], 0xA11A5
    CHECK 'alias-write', [PHYS + 0x28], 0xA11A5

    ; remapping: INVLPG and MOV CR3 both drop the old translation
    mov eax, V4K
    call pte_addr
    mov edi, eax
    mov dword [edi], PHYS + 0x1000 + 3
    invlpg [V4K]
    CHECK 'remap-invlpg', [V4K + 0x30], PHYS + 0x1030
    mov dword [edi], PHYS + 0x2000 + 3
    mov eax, cr3
    mov cr3, eax
    CHECK 'remap-cr3', [V4K + 0x30], PHYS + 0x2030
    invlpg [0xDEAD0000]
    CHECK 'invlpg-unmapped', [last_vec], NO_FAULT

    ; accessed and dirty bits
    mov eax, V4K + 0x1000
    mov ebx, PHYS + 0x3000 + 3
    call map4k
    call pte_addr
    mov edi, eax
    mov eax, [V4K + 0x1000]
    mov eax, [edi]
    and eax, 0x60
    CHECK 'pte-accessed-on-read', eax, 0x20
    mov dword [V4K + 0x1000], 1
    mov eax, [edi]
    and eax, 0x60
    CHECK 'pte-dirty-on-write', eax, 0x60
    mov eax, [pgdir + (V4K >> 22)*4]
    and eax, 0x20
    CHECK 'pde-accessed', eax, 0x20

    ; 4 MiB pages
    mov eax, cr4
    or eax, 0x10                            ; PSE
    mov cr4, eax
    mov dword [pgdir + 4*4], 0x000000 | 0x83 ; 0x1000000 -> 0 (P, W, PS)
    mov dword [pgdir + 5*4], 0x400000 | 0x83 ; 0x1400000 -> 0x400000
    invlpg [0x1000000]
    CHECK 'pse-read', [0x1000000 + PHYS + 0x40], PHYS + 0x40
    mov dword [0x1000000 + PHYS + 0x44], 0x4444
    CHECK 'pse-write', [PHYS + 0x44], 0x4444
    mov eax, [pgdir + 4*4]
    and eax, 0x60
    CHECK 'pse-pde-accessed-dirty', eax, 0x60
    mov dword [0x1400000 + 0x201234], 0x5A5A5A5A ; high offset bits inside a 4 MiB page
    mov eax, V4K + 0x2000
    mov ebx, 0x601000 + 3
    call map4k
    CHECK 'pse-offset', [V4K + 0x2234], 0x5A5A5A5A
    mov eax, [pgdir + 5*4]
    and eax, 0x60
    CHECK 'pse-pde-dirty', eax, 0x60

    ; without CR4.PSE the PS bit is ignored: the PDE points to a page table
    mov edi, [pt_next]
    add dword [pt_next], 4096
    mov dword [edi], PHYS + 0x4000 + 3      ; 0x1800000 -> PHYS + 0x4000
    lea eax, [edi + 0x83]
    mov [pgdir + 6*4], eax
    mov eax, cr4
    and eax, ~0x10
    mov cr4, eax
    CHECK 'ps-ignored-without-pse', [0x1800010], PHYS + 0x4010
    mov dword [pgdir + 6*4], 0
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax

    ; global pages
    mov eax, cr4
    or eax, 0x80                            ; PGE
    mov cr4, eax
    mov eax, V4K + 0x3000
    mov ebx, PHYS + 0x5000 + 0x103          ; G, W, P
    call map4k
    call pte_addr
    mov edi, eax
    CHECK 'pge-read', [V4K + 0x3050], PHYS + 0x5050
    mov dword [edi], PHYS + 0x6000 + 0x103
    invlpg [V4K + 0x3000]
    CHECK 'pge-invlpg', [V4K + 0x3050], PHYS + 0x6050
    mov dword [edi], PHYS + 0x7000 + 0x103
    mov eax, cr4
    and eax, ~0x80
    mov cr4, eax
    or eax, 0x80
    mov cr4, eax
    CHECK 'pge-toggle-flush', [V4K + 0x3050], PHYS + 0x7050
    mov eax, V4K
    call pte_addr
    mov dword [eax], PHYS + 0x8000 + 3      ; not global: MOV CR3 flushes it
    mov eax, cr3
    mov cr3, eax
    CHECK 'pge-cr3-flushes-nonglobal', [V4K + 0x30], PHYS + 0x8030

    ; CR0.WP: supervisor writes to read-only pages
    mov eax, V4K + 0x4000
    mov ebx, PHYS + 0x9000 + 1              ; present, read-only, supervisor
    call map4k
    TRY
    mov dword [V4K + 0x4010], 0x1111
    CATCH
    CHECK 'wp0-write-allowed', [last_vec], NO_FAULT
    CHECK 'wp0-write-landed', [PHYS + 0x9010], 0x1111
    mov eax, cr0
    or eax, 0x10000                         ; WP
    mov cr0, eax
    TRY
.wp:
    mov dword [V4K + 0x4014], 0x2222
    CATCH
    CHECK 'wp1-write-vec', [last_vec], 14
    CHECK 'wp1-write-err', [last_err], 3
    CHECK 'wp1-write-cr2', [last_cr2], V4K + 0x4014
    CHECK 'wp1-write-eip', [last_eip], .wp
    CHECK 'wp1-write-dropped', [PHYS + 0x9014], PHYS + 0x9014
    mov eax, cr0
    and eax, ~0x10000
    mov cr0, eax

    ; recursive page directory: PDE 1023 points at the directory itself
    mov dword [pgdir + 1023*4], pgdir + 3
    mov eax, cr3
    mov cr3, eax
    mov eax, V4K + 0x4000
    call pte_addr
    mov ebx, [eax]
    CHECK 'recursive-pte', [0xFFC00000 + ((V4K + 0x4000) >> 12)*4], ebx
    mov ebx, [pgdir + 4*4]
    CHECK 'recursive-pde', [0xFFFFF000 + 4*4], ebx

    ; paging off again: linear = physical
    mov eax, cr0
    and eax, ~0x80000000
    mov cr0, eax
    jmp .off
.off:
    CHECK 'paging-off', [PHYS + 0x10], PHYS + 0x10
    mov eax, cr0
    and eax, 0x80000000
    CHECK 'paging-off-cr0', eax, 0
    ret

%include "common_end.inc"
