; Page faults: error codes (P, W/R, U/S, RSVD) and CR2 for supervisor and user accesses, PDE-
; and PTE-level protections, accesses and instructions that straddle a page boundary, faults on
; instruction fetch, and restart: the handler maps the page and the faulting instruction runs
; again (including a REP MOVSD interrupted half way, which must resume with ECX/ESI/EDI as left).
%include "common.inc"

PHYS        equ 0x300000                    ; scratch frames, each dword holds its own address
V           equ 0x800000                    ; test pages (one pool page table)
VU          equ 0xC00000                    ; user test pages, PDE without U
VNOPDE      equ 0x1000000                   ; no PDE at all

; PFCHECK 'name', error code, cr2, faulting instruction label
%macro PFCHECK 4
    CHECK {%1, '-vec'}, [last_vec], 14
    CHECK {%1, '-err'}, [last_err], %2
    CHECK {%1, '-cr2'}, [last_cr2], %3
    CHECK {%1, '-eip'}, [last_eip], %4
%endmacro

; UFAULT slot, instruction... (ring 3): records vector, error code, CR2 and CS of the fault
%macro UFAULT 2+
    TRY
    %2
    CATCH
    mov eax, [last_vec]
    mov [ures + %1*16], eax
    mov eax, [last_err]
    mov [ures + %1*16 + 4], eax
    mov eax, [last_cr2]
    mov [ures + %1*16 + 8], eax
    mov eax, [last_cs]
    mov [ures + %1*16 + 12], eax
%endmacro

; UCHECK 'name', slot, error code, cr2
%macro UCHECK 4
    CHECK {%1, '-vec'}, [ures + %2*16], 14
    CHECK {%1, '-err'}, [ures + %2*16 + 4], %3
    CHECK {%1, '-cr2'}, [ures + %2*16 + 8], %4
%endmacro

main:
    mov edi, PHYS
.fill:
    mov [edi], edi
    add edi, 4
    cmp edi, PHYS + 0x20000
    jb .fill
    call paging_init
    mov eax, cr0
    or eax, 0x10000                         ; WP
    mov cr0, eax
    mov dword [exc_hook + 14*4], pf_hook

    ; not present, at PDE and at PTE level
    TRY
.np_pde:
    mov eax, [VNOPDE + 0x10]
    CATCH
    PFCHECK 'pf-notpresent-pde', 0, VNOPDE + 0x10, .np_pde
    mov eax, V
    mov ebx, PHYS + 3
    call map4k                              ; V's page table now exists; V+0x1000 is empty
    TRY
.np_read:
    mov eax, [V + 0x1010]
    CATCH
    PFCHECK 'pf-notpresent-read', 0, V + 0x1010, .np_read
    TRY
.np_write:
    mov dword [V + 0x1020], 0x77
    CATCH
    PFCHECK 'pf-notpresent-write', 2, V + 0x1020, .np_write

    ; restart: the handler maps the page and the instruction runs again
    mov dword [fix_pte], PHYS + 0x1000 + 3
    TRY
.rs_read:
    mov eax, [V + 0x1010]
    CATCH
    PFCHECK 'pf-restart-read', 0, V + 0x1010, .rs_read
    CHECK 'pf-restart-read-value', eax, PHYS + 0x1010
    mov dword [fix_pte], PHYS + 0x2000 + 3
    TRY
.rs_write:
    mov dword [V + 0x2020], 0x77
    CATCH
    PFCHECK 'pf-restart-write', 2, V + 0x2020, .rs_write
    CHECK 'pf-restart-write-value', [PHYS + 0x2020], 0x77

    ; write protection (CR0.WP=1), then the handler makes the page writable
    mov eax, V + 0x3000
    mov ebx, PHYS + 0x3000 + 1
    call map4k
    mov dword [fix_pte], PHYS + 0x3000 + 3
    TRY
.wp:
    mov dword [V + 0x3030], 0x99
    CATCH
    PFCHECK 'pf-write-protect', 3, V + 0x3030, .wp
    CHECK 'pf-write-protect-restart', [PHYS + 0x3030], 0x99

    ; supervisor may read and (with WP) not write read-only user pages
    mov eax, V + 0x4000
    mov ebx, PHYS + 0x4000 + 5              ; user, read-only
    call map4k
    CHECK 'pf-sup-read-user', [V + 0x4040], PHYS + 0x4040
    TRY
.supw:
    mov dword [V + 0x4040], 0
    CATCH
    PFCHECK 'pf-sup-write-user-ro', 3, V + 0x4040, .supw

    ; a dword straddling into a not-present page: CR2 is the first byte of that page
    mov eax, V + 0x5000
    mov ebx, PHYS + 0x5000 + 3
    call map4k
    mov dword [fix_pte], PHYS + 0x6000 + 3
    TRY
.cross:
    mov eax, [V + 0x5FFE]
    CATCH
    PFCHECK 'pf-straddle', 0, V + 0x6000, .cross
    CHECK 'pf-straddle-restart', eax, (((PHYS + 0x6000) & 0xFFFF) << 16) | ((PHYS + 0x5FFC) >> 16)

    ; instruction fetch from a not-present page (no I/D bit without PAE+NX)
    TRY
    mov eax, V + 0x7000
.fetch_jmp:
    jmp eax
    CATCH
    PFCHECK 'pf-fetch', 0, V + 0x7000, V + 0x7000
    mov esi, code_ret1234                   ; "mov eax, 0x1234; ret" into a frame
    mov edi, PHYS + 0x7000
    mov ecx, 6
    rep movsb
    mov dword [fix_pte], PHYS + 0x7000 + 3
    xor eax, eax
    mov ebx, V + 0x7000
    call ebx
    CHECK 'pf-fetch-restart', eax, 0x1234
    CHECK 'pf-fetch-restart-cr2', [last_cr2], V + 0x7000

    ; an instruction straddling into a not-present page: EIP = its start, CR2 = the next page
    mov eax, V + 0x8000
    mov ebx, PHYS + 0x8000 + 3
    call map4k
    mov dword [PHYS + 0x8FFC], 0x5678B800   ; ... B8 78 56 | 34 12 C3: mov eax, 0x12345678; ret
    mov dword [PHYS + 0x9000], 0x00C31234
    mov dword [fix_pte], PHYS + 0x9000 + 3
    xor eax, eax
    mov ebx, V + 0x8FFD
    call ebx
    CHECK 'pf-fetch-straddle-cr2', [last_cr2], V + 0x9000
    CHECK 'pf-fetch-straddle-eip', [last_eip], V + 0x8FFD
    CHECK 'pf-fetch-straddle-restart', eax, 0x12345678

    ; REP MOVSD stopped by a fault half way resumes where it stopped
    mov eax, V + 0xA000
    mov ebx, PHYS + 0xA000 + 3
    call map4k
    mov dword [fix_pte], PHYS + 0xB000 + 3
    mov esi, PHYS + 0x10000
    mov edi, V + 0xA000
    mov ecx, 2048
.movs:
    rep movsd
    CHECK 'pf-rep-movs-eip', [last_eip], .movs
    CHECK 'pf-rep-movs-cr2', [last_cr2], V + 0xB000
    CHECK 'pf-rep-movs-ecx', [pf_ecx], 1024
    CHECK 'pf-rep-movs-esi', [pf_esi], PHYS + 0x11000
    CHECK 'pf-rep-movs-edi', [pf_edi], V + 0xB000
    CHECK 'pf-rep-movs-done', ecx, 0
    CHECK 'pf-rep-movs-last', [PHYS + 0xBFFC], PHYS + 0x11FFC

    ; reserved bit: bit 21 of a 4 MiB PDE. The entry is present, so P is set with RSVD (SDM 4.7)
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov dword [pgdir + (VNOPDE >> 22)*4], 0x200000 | 0x83
    TRY
.rsvd:
    mov eax, [VNOPDE + 0x10]
    CATCH
    PFCHECK 'pf-reserved-bit', 9, VNOPDE + 0x10, .rsvd
    mov dword [pgdir + (VNOPDE >> 22)*4], 0

    ; user-mode faults
    mov eax, V + 0xC000
    mov ebx, PHYS + 0xC000 + 3              ; supervisor, writable
    call map4k
    mov eax, V + 0xD000
    mov ebx, PHYS + 0xD000 + 5              ; user, read-only
    call map4k
    mov eax, VU
    mov ebx, PHYS + 0xE000 + 7              ; user PTE under a supervisor PDE
    call map4k
    and dword [pgdir + (VU >> 22)*4], ~4
    mov eax, VU + 0x1000
    mov ebx, PHYS + 0xF000 + 7
    call map4k
    mov eax, VU + 0x1000
    and dword [pgdir + (VU >> 22)*4], ~2    ; and read-only PDE
    or dword [pgdir + (VU >> 22)*4], 4
    mov eax, cr3
    mov cr3, eax
    mov ebx, user_faults
    call call_ring3
    UCHECK 'pf-user-read-supervisor', 0, 5, V + 0xC010
    UCHECK 'pf-user-write-supervisor', 1, 7, V + 0xC010
    UCHECK 'pf-user-write-readonly', 2, 7, V + 0xD010
    UCHECK 'pf-user-read-notpresent', 3, 4, V + 0xE010
    UCHECK 'pf-user-write-notpresent', 4, 6, V + 0xE010
    UCHECK 'pf-user-write-ro-pde', 5, 7, VU + 0x1010
    CHECK 'pf-user-cs', [ures + 12], SEL_UCODE
    CHECK 'pf-user-read-ok', [uread], PHYS + 0xD010
    ; user write to a read-only page faults even with CR0.WP=0
    mov eax, cr0
    and eax, ~0x10000
    mov cr0, eax
    mov ebx, user_write_ro
    call call_ring3
    UCHECK 'pf-user-write-readonly-wp0', 6, 7, V + 0xD010
    ; a supervisor PDE makes the whole 4 MiB supervisor
    and dword [pgdir + (VU >> 22)*4], ~4
    mov eax, cr3
    mov cr3, eax
    mov ebx, user_read_sup_pde
    call call_ring3
    UCHECK 'pf-user-read-supervisor-pde', 7, 5, VU + 0x10
    ret

user_faults:
    UFAULT 0, mov eax, [V + 0xC010]
    UFAULT 1, mov dword [V + 0xC010], 1
    UFAULT 2, mov dword [V + 0xD010], 1
    UFAULT 3, mov eax, [V + 0xE010]
    UFAULT 4, mov dword [V + 0xE010], 1
    UFAULT 5, mov dword [VU + 0x1010], 1
    mov eax, [V + 0xD010]
    mov [uread], eax
    ret

user_write_ro:
    UFAULT 6, mov dword [V + 0xD010], 1
    ret

user_read_sup_pde:
    UFAULT 7, mov eax, [VU + 0x10]
    ret

; #PF hook: records the interrupted ECX/ESI/EDI; maps the faulting page to fix_pte (once) and
; restarts the instruction, or resumes at CATCH when fix_pte is 0.
pf_hook:
    mov eax, [ebp + F_ECX]
    mov [pf_ecx], eax
    mov eax, [ebp + F_ESI]
    mov [pf_esi], eax
    mov eax, [ebp + F_EDI]
    mov [pf_edi], eax
    mov ebx, [fix_pte]
    test ebx, ebx
    jz .resume
    mov dword [fix_pte], 0
    mov eax, cr2
    and eax, 0xFFFFF000
    call map4k
    ret
.resume:
    mov eax, [resume_eip]
    test eax, eax
    jz unexpected
    mov [ebp + F_EIP], eax
    mov dword [resume_eip], 0
    ret

section .rodata
code_ret1234: db 0xB8, 0x34, 0x12, 0x00, 0x00, 0xC3

section .data
fix_pte:    dd 0
pf_ecx:     dd 0
pf_esi:     dd 0
pf_edi:     dd 0
uread:      dd 0
ures:       times 8*4 dd 0

%include "common_end.inc"
