; Exits at once: measures an engine's fixed start-up and exit cost.
%include "bench.inc"
INSTRUCTIONS equ 1 + EXIT_INSNS
BYTES equ 0

_start:
    xor eax, eax
    EXIT_WITH_CHECKSUM
