/* guest.s: the tiny guest the QEMU end-to-end tests and bench/migrate run
 * (docs/e2e.md). A 32-bit multiboot kernel with no disk and no devices of
 * its own: QEMU loads it with -kernel. It keeps doing two things, about a
 * thousand times a second (a PIT tick wakes it from hlt, so an idle TCG
 * guest does not take a whole host CPU):
 *
 *   - the working set (WS_START..WS_END, one word every WS_STRIDE bytes,
 *     so every page of it is dirtied on every pass): pass n checks that
 *     each word still holds n ^ address, the value pass n-1 wrote, then
 *     writes (n+1) ^ address. A page that a migration lost or sent stale
 *     fails the check on the destination;
 *   - the static pattern (PAT_START..PAT_END, filled once at boot with a
 *     hash of each word's address, never written again): each pass checks
 *     one 64 KiB slice of it, all of it every PAT_SLICES passes.
 *
 * It reports in the status block at STATUS (physical memory, read by the
 * tests through QMP with the monitor's "xp"): magic (written last at boot:
 * the guest is up), pass counter, error count, address of the last bad
 * word, exception flag (any CPU exception stops the guest with it set).
 *
 * Negative control: CMOS NVRAM byte CMOS_POKE (set from QMP with the
 * monitor's "o" command on ports 0x70/0x71) set to 0xa5 makes the guest
 * flip a bit of its own working set once, which the next pass must count
 * as one error (tests/e2e/test_qemu_migration.py checks it does). */

        .set MB_MAGIC,    0x1badb002
        .set MB_FLAGS,    0
        .set STATUS,      0x9000          /* magic, passes, errors, bad, fault */
        .set GUEST_MAGIC, 0x474c4d56      /* "VMLG" */
        .set STACK_TOP,   0x80000
        .set PAT_START,   0x00800000      /* 8 MiB .. 12 MiB */
        .set PAT_END,     0x00c00000
        .set PAT_SLICES,  64              /* 4 MiB / 64 KiB */
        .set WS_START,    0x01000000      /* 16 MiB .. 18 MiB */
        .set WS_END,      0x01200000
        .set WS_STRIDE,   256
        .set HASH_MUL,    0x9e3779b1
        .set HASH_XOR,    0x5a5aa5a5
        .set CMOS_POKE,   0x40
        .set PIT_DIVISOR, 1193            /* 1.193182 MHz / 1193: ~1 kHz */

        .text
        .code32
        /* The multiboot header must lie in the image's first 8 KiB. */
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .globl _start
_start:
        cli
        /* Multiboot leaves GDTR undefined: our own flat segments. */
        lgdt gdt_desc
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov %ax, %fs
        mov %ax, %gs
        mov $STACK_TOP, %esp

        xor %eax, %eax
        mov %eax, STATUS
        mov %eax, STATUS+4
        mov %eax, STATUS+8
        mov %eax, STATUS+12
        mov %eax, STATUS+16

        /* The static pattern. */
        mov $PAT_START, %edi
2:      imul $HASH_MUL, %edi, %eax
        xor $HASH_XOR, %eax
        mov %eax, (%edi)
        add $4, %edi
        cmp $PAT_END, %edi
        jb 2b

        /* The working set as pass 0 expects it: 0 ^ address. */
        mov $WS_START, %edi
3:      mov %edi, (%edi)
        add $WS_STRIDE, %edi
        cmp $WS_END, %edi
        jb 3b

        /* Interrupt table: exceptions to fault, the timer (IRQ 0 at
         * vector 0x20 after the remap below) to timer, the rest ignored. */
        mov $idt, %edi
        xor %ecx, %ecx
4:      mov $ignore, %edx
        cmp $32, %ecx
        jae 5f
        mov $fault, %edx
5:      cmp $0x20, %ecx
        jne 6f
        mov $timer, %edx
6:      mov %dx, (%edi)
        movw $0x08, 2(%edi)
        movw $0x8e00, 4(%edi)             /* present, ring 0, 32-bit interrupt gate */
        shr $16, %edx
        mov %dx, 6(%edi)
        add $8, %edi
        inc %ecx
        cmp $256, %ecx
        jb 4b
        lidt idt_desc

        /* PICs: IRQ 0-7 at 0x20, 8-15 at 0x28; only IRQ 0 unmasked. */
        mov $0x11, %al
        out %al, $0x20
        out %al, $0xa0
        mov $0x20, %al
        out %al, $0x21
        mov $0x28, %al
        out %al, $0xa1
        mov $0x04, %al
        out %al, $0x21
        mov $0x02, %al
        out %al, $0xa1
        mov $0x01, %al
        out %al, $0x21
        out %al, $0xa1
        mov $0xfe, %al
        out %al, $0x21
        mov $0xff, %al
        out %al, $0xa1

        /* PIT channel 0, rate generator, ~1 kHz. */
        mov $0x34, %al
        out %al, $0x43
        mov $(PIT_DIVISOR & 0xff), %al
        out %al, $0x40
        mov $(PIT_DIVISOR >> 8), %al
        out %al, $0x40

        movl $GUEST_MAGIC, STATUS
        sti
main:
        call pass
        hlt
        jmp main

/* One pass: check and rewrite the working set, check one pattern slice,
 * honour a poke, count the pass. */
pass:
        mov STATUS+4, %ebx                /* n */
        lea 1(%ebx), %edx                 /* n + 1 */
        mov $WS_START, %edi
1:      mov %edi, %eax
        xor %ebx, %eax
        cmp (%edi), %eax
        je 2f
        incl STATUS+8
        mov %edi, STATUS+12
2:      mov %edi, %eax
        xor %edx, %eax
        mov %eax, (%edi)
        add $WS_STRIDE, %edi
        cmp $WS_END, %edi
        jb 1b

        mov %ebx, %edi
        and $(PAT_SLICES - 1), %edi
        shl $16, %edi
        add $PAT_START, %edi
        lea 0x10000(%edi), %esi
3:      imul $HASH_MUL, %edi, %eax
        xor $HASH_XOR, %eax
        cmp (%edi), %eax
        je 4f
        incl STATUS+8
        mov %edi, STATUS+12
4:      add $4, %edi
        cmp %esi, %edi
        jb 3b

        mov $CMOS_POKE, %al
        out %al, $0x70
        in $0x71, %al
        cmp $0xa5, %al
        jne 5f
        xor %al, %al
        out %al, $0x71
        xorl $1, WS_START                 /* the next pass must see it */
5:      incl STATUS+4
        ret

timer:
        push %eax
        mov $0x20, %al
        out %al, $0x20                    /* end of interrupt */
        pop %eax
        iret

ignore:
        iret

fault:
        movl $1, STATUS+16
        cli
1:      hlt
        jmp 1b

        .align 8
gdt:
        .quad 0
        .quad 0x00cf9a000000ffff          /* 0x08: code, flat 4 GiB */
        .quad 0x00cf92000000ffff          /* 0x10: data, flat 4 GiB */
gdt_desc:
        .word gdt_desc - gdt - 1
        .long gdt
        .align 4
idt_desc:
        .word 256 * 8 - 1
        .long idt

        .bss
        .align 8
idt:
        .skip 256 * 8
