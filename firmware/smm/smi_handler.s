# smi_handler.s: pinvm's built-in SMI handler (docs/smm.md).
#
# 16-bit code, entered at SMBASE + 0x8000 in SMM's real-mode-like state
# (CS base = SMBASE, 4 GiB limits, CR0.PE = 0; AMD APM Vol 2 10.2.4).
# The machine copies it to each vCPU's SMBASE + 0x8000 at start and on
# every reset (src/machine/apm.c). It must stay position independent and
# below 0x200 bytes (save areas of other vCPUs follow, smm_smram.h).
# It uses no stack. Addresses are CS-relative: %cs:0xFExx is the AMD64
# state-save map.
#
# Every SMI: count it in SMRAM (smi_count, per vCPU), then act on the APM
# command byte (port 0xB2) and write the result to the APM status port
# 0xB3:
#   0xE0  CR test: inside SMM clear and set CR0.WP, set and clear
#         CR4.SMEP/SMAP/UMIP (pins are not enforced in SMM); 0x5A = all
#         writes took effect, 0xA5 = one did not
#   0xE1  SMBASE relocation: SMBASE += 0x10000 in the save map, or
#         -= 0x10000 if it is above 0x40000 already; 0xE1
#   0xE2  report SMBASE: (SMBASE >> 12) & 0xFF (0x30 for 0x30000)
#   0xE3  clear CR4.SMEP in the saved CR4; 0xE3
#   0xE4  clear CR0.WP in the saved CR0; 0xE4
#   0xE5  make the saved CR0 invalid (PG without PE); 0xE5
#   0xE6  relocate SMBASE outside SMRAM (to 1 MiB); 0xE6
#   else  the low byte of smi_count
# None of these gives the guest anything it cannot do at CPL0 already: the
# RSM checks (smm.c) refuse a saved state that changes a pinned bit, is
# invalid, or moves SMBASE out of SMRAM, with shutdown.

        .section .rodata.pinvm_smm,"a"
        .globl pinvm_smm_handler, pinvm_smm_handler_end
        .code16
pinvm_smm_handler:
        incl    %cs:(0x8000 + smi_count - pinvm_smm_handler)
        inb     $0xb2, %al
        cmpb    $0xe0, %al
        je      cr_test
        cmpb    $0xe1, %al
        je      relocate
        cmpb    $0xe2, %al
        je      report_smbase
        cmpb    $0xe3, %al
        je      tamper_smep
        cmpb    $0xe4, %al
        je      tamper_wp
        cmpb    $0xe5, %al
        je      tamper_invalid
        cmpb    $0xe6, %al
        je      bad_smbase
        movb    %cs:(0x8000 + smi_count - pinvm_smm_handler), %al
done:
        outb    %al, $0xb3
        rsm

cr_test:
        movl    %cr0, %eax
        movl    %eax, %ebx
        andl    $~0x10000, %eax         # CR0.WP off
        movl    %eax, %cr0
        movl    %cr0, %ecx
        testl   $0x10000, %ecx
        jnz     fail
        orl     $0x10000, %eax          # CR0.WP on
        movl    %eax, %cr0
        movl    %cr0, %ecx
        testl   $0x10000, %ecx
        jz      fail
        movl    %ebx, %cr0
        movl    %cr4, %eax
        movl    %eax, %ebx
        orl     $0x300800, %eax         # SMEP | SMAP | UMIP on
        movl    %eax, %cr4
        movl    %cr4, %ecx
        andl    $0x300800, %ecx
        cmpl    $0x300800, %ecx
        jne     fail
        andl    $~0x300800, %eax        # and off again
        movl    %eax, %cr4
        movl    %cr4, %ecx
        testl   $0x300800, %ecx
        jnz     fail
        movl    %ebx, %cr4
        movb    $0x5a, %al
        jmp     done
fail:
        movb    $0xa5, %al
        jmp     done

relocate:
        movl    %cs:0xff00, %eax        # 0x3xxxx -> 0x4xxxx -> 0x3xxxx
        addl    $0x10000, %eax
        cmpl    $0x50000, %eax
        jb      1f
        subl    $0x20000, %eax
1:      movl    %eax, %cs:0xff00
        movb    $0xe1, %al
        jmp     done

report_smbase:
        movl    %cs:0xff00, %eax
        shrl    $12, %eax
        jmp     done

tamper_smep:
        andl    $~0x100000, %cs:0xff48
        jmp     done

tamper_wp:
        andl    $~0x10000, %cs:0xff58
        jmp     done

tamper_invalid:
        andl    $~1, %cs:0xff58         # PG stays set: PG without PE
        jmp     done

bad_smbase:
        movl    $0x100000, %cs:0xff00
        jmp     done

        .balign 4
smi_count:
        .long   0
pinvm_smm_handler_end:
        .code64
        .previous
