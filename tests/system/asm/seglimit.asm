; Segment limit and access-right checks on data accesses (Intel SDM vol. 3 ch. 5.3, 5.5): byte
; and page granular limits, expand-down segments (B=1 and B=0), writes to read-only data and code
; segments, stack segment limit (#SS(0)), use of a null selector.
;
; QEMU's TCG does not perform these checks (it only checks them on segment loads), so the expected
; results here come from the SDM and QEMU's output is not compared.
%include "common.inc"

SEL_LIM     equ (GDT_FREE + 0) << 3         ; base 0x300000, limit 0xFFF bytes
SEL_LIMG    equ (GDT_FREE + 1) << 3         ; base 0x300000, limit 0 pages (0xFFF)
SEL_DOWN    equ (GDT_FREE + 2) << 3         ; expand-down, limit 0xFFF, B=1
SEL_DOWN16  equ (GDT_FREE + 3) << 3         ; expand-down, limit 0xFFF, B=0
SEL_RDONLY  equ (GDT_FREE + 4) << 3         ; read-only data, base 0x300000
SEL_SSLIM   equ (GDT_FREE + 5) << 3         ; stack, base 0, limit 0x1FFFFF

main:
    GDT_DESC SEL_LIM >> 3, 0x300000, 0xFFF, 0x93, 0x4
    GDT_DESC SEL_LIMG >> 3, 0x300000, 0, 0x93, 0xC
    GDT_DESC SEL_DOWN >> 3, 0x300000, 0xFFF, 0x97, 0x4
    GDT_DESC SEL_DOWN16 >> 3, 0x300000, 0xFFF, 0x97, 0x0
    GDT_DESC SEL_RDONLY >> 3, 0x300000, 0xFFFF, 0x91, 0x4
    GDT_DESC SEL_SSLIM >> 3, 0, 0x1FF, 0x93, 0xC
    mov dword [0x300010], 0xCAFEBABE

    ; byte-granular limit 0xFFF
    mov ax, SEL_LIM
    mov fs, ax
    TRY
    mov al, [fs:0xFFF]
    mov eax, [fs:0xFFC]
    CATCH
    CHECK 'limit-last-ok', [last_vec], NO_FAULT
    TRY
.lim1:
    mov al, [fs:0x1000]
    CATCH
    CHECK 'limit-past-vec', [last_vec], 13
    CHECK 'limit-past-err', [last_err], 0
    CHECK 'limit-past-eip', [last_eip], .lim1
    TRY
    mov eax, [fs:0xFFD]                     ; last byte beyond the limit
    CATCH
    CHECK 'limit-straddle-vec', [last_vec], 13

    ; page-granular limit 0 covers 0xFFF
    mov ax, SEL_LIMG
    mov fs, ax
    TRY
    mov eax, [fs:0xFFC]
    CATCH
    CHECK 'limit-g-ok', [last_vec], NO_FAULT
    TRY
    mov al, [fs:0x1000]
    CATCH
    CHECK 'limit-g-past-vec', [last_vec], 13

    ; expand-down: valid offsets are limit+1 .. 0xFFFFFFFF (B=1) or .. 0xFFFF (B=0)
    mov ax, SEL_DOWN
    mov fs, ax
    TRY
    mov al, [fs:0xFFF]
    CATCH
    CHECK 'expand-down-low-vec', [last_vec], 13
    TRY
    mov eax, [fs:0x1000]
    mov eax, [fs:0xFFFFFFFC]
    CATCH
    CHECK 'expand-down-high-ok', [last_vec], NO_FAULT
    mov ax, SEL_DOWN16
    mov fs, ax
    TRY
    mov eax, [fs:0xFFFC]
    CATCH
    CHECK 'expand-down16-ok', [last_vec], NO_FAULT
    TRY
    mov al, [fs:0x10000]
    CATCH
    CHECK 'expand-down16-past-vec', [last_vec], 13

    ; writes to a read-only data segment and through CS
    mov ax, SEL_RDONLY
    mov fs, ax
    CHECK 'readonly-read', [fs:0x10], 0xCAFEBABE
    TRY
    mov dword [fs:0x10], 0
    CATCH
    CHECK 'readonly-write-vec', [last_vec], 13
    CHECK 'readonly-write-err', [last_err], 0
    TRY
    mov eax, [cs:scratch]
    CATCH
    CHECK 'cs-read-ok', [last_vec], NO_FAULT
    TRY
    mov [cs:scratch], eax
    CATCH
    CHECK 'cs-write-vec', [last_vec], 13

    ; stack segment limit violations raise #SS(0)
    mov ax, SEL_SSLIM
    mov ss, ax
    TRY
.ss1:
    mov eax, [ss:0x300000]
    CATCH
    mov ax, SEL_KDATA
    mov ss, ax
    CHECK 'ss-limit-vec', [last_vec], 12
    CHECK 'ss-limit-err', [last_err], 0
    CHECK 'ss-limit-eip', [last_eip], .ss1

    ; null selector: loading is fine, using it is #GP(0)
    xor eax, eax
    mov fs, ax
    TRY
    mov eax, [fs:0]
    CATCH
    CHECK 'null-use-vec', [last_vec], 13
    CHECK 'null-use-err', [last_err], 0

    ret

section .data
scratch: dd 0

%include "common_end.inc"
