/* mptable.c: the firmware tables that name the vCPUs, in the BIOS area
 * where SeaBIOS puts QEMU's:
 * - Intel MultiProcessor Specification 1.4 (chapter 4): a floating
 *   pointer structure at MPTABLE_ADDR and a configuration table right
 *   after it with one processor entry per vCPU and the ISA bus. (SeaBIOS
 *   lists one processor per package only, so on QEMU, whose CPUID puts
 *   all vCPUs in one package, its MP table shows one CPU.)
 * - ACPI (6.4, chapter 5): an RSDP (revision 0) at ACPI_ADDR, an RSDT and
 *   a MADT with a Processor Local APIC entry per vCPU (5.2.12.2), the I/O
 *   APIC and the IRQ0 -> GSI 2 override, as QEMU generates. */
#include "machine.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

/* An ACPI table header (5.2.6) of len bytes; checksum filled last. */
static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "PINVM ", 6);
    memcpy(t + 16, "PINVMTBL", 8);
    put32(t + 24, 1);
    memcpy(t + 28, "PNVM", 4);
    put32(t + 32, 1);
}

static void acpi_write(struct machine *m)
{
    const uint32_t rsdp = ACPI_ADDR, rsdt = ACPI_ADDR + 0x20,
                   madt = ACPI_ADDR + 0x80;
    /* local APICs, the I/O APIC, ISA IRQ0 -> GSI 2 (as QEMU's) */
    uint32_t madt_len = 44 + 8u * (uint32_t)m->ncpus + 12 + 10;
    if (madt + madt_len > m->ram_size)
        return;
    uint8_t *r = m->ram + rsdp, *t = m->ram + rsdt, *a = m->ram + madt;
    memset(r, 0, madt + madt_len - rsdp);

    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, "PINVM ", 6);
    r[15] = 0; /* ACPI 1.0 RSDP: RSDT only */
    put32(r + 16, rsdt);
    r[8] = checksum(r, 20);

    acpi_header(t, "RSDT", 40, 1);
    put32(t + 36, madt);
    t[9] = checksum(t, 40);

    acpi_header(a, "APIC", madt_len, 1);
    put32(a + 36, (uint32_t)LAPIC_DEFAULT_BASE);
    put32(a + 40, 1); /* PCAT_COMPAT: there are 8259s */
    for (int i = 0; i < m->ncpus; i++) {
        uint8_t *e = a + 44 + 8 * i;
        e[0] = 0; /* Processor Local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;             /* ACPI processor UID */
        e[3] = m->lapic[i].apic_id;
        put32(e + 4, 1);               /* enabled */
    }
    uint8_t *io = a + 44 + 8 * m->ncpus;
    io[0] = 1; /* I/O APIC (5.2.12.3) */
    io[1] = 12;
    io[2] = 0; /* its ID register's reset value */
    put32(io + 4, (uint32_t)IOAPIC_BASE);
    put32(io + 8, 0); /* GSI base */
    uint8_t *iso = io + 12;
    iso[0] = 2; /* Interrupt Source Override (5.2.12.5) */
    iso[1] = 10;
    iso[2] = 0; /* ISA */
    iso[3] = 0; /* IRQ0 */
    put32(iso + 4, 2);
    iso[8] = iso[9] = 0; /* bus-default polarity and trigger */
    a[9] = checksum(a, madt_len);
}

void mptable_write(struct machine *m)
{
    const size_t fp_len = 16, hdr_len = 44, cpu_len = 20, bus_len = 8;
    size_t cfg_len = hdr_len + (size_t)m->ncpus * cpu_len + bus_len;
    if (MPTABLE_ADDR + fp_len + cfg_len > m->ram_size)
        return;
    uint8_t *fp = m->ram + MPTABLE_ADDR, *cfg = fp + fp_len;
    memset(fp, 0, fp_len + cfg_len);

    memcpy(fp, "_MP_", 4);
    put32(fp + 4, (uint32_t)(MPTABLE_ADDR + fp_len));
    fp[8] = 1;  /* length in 16-byte units */
    fp[9] = 4;  /* spec revision 1.4 */
    /* feature bytes 1-5 zero: the configuration table is present */
    fp[10] = checksum(fp, fp_len);

    memcpy(cfg, "PCMP", 4);
    put16(cfg + 4, (uint16_t)cfg_len);
    cfg[6] = 4;
    memcpy(cfg + 8, "PINVM   ", 8);
    memcpy(cfg + 16, "PINVM MPTABL", 12);
    put16(cfg + 34, (uint16_t)(m->ncpus + 1)); /* entry count */
    put32(cfg + 36, (uint32_t)LAPIC_DEFAULT_BASE);

    uint8_t *e = cfg + hdr_len;
    for (int i = 0; i < m->ncpus; i++, e += cpu_len) {
        e[0] = 0; /* processor */
        e[1] = m->lapic[i].apic_id;
        e[2] = (uint8_t)LAPIC_VERSION;
        e[3] = 1 | (i == 0 ? 2 : 0); /* enabled, bootstrap processor */
        put32(e + 4, 0x00000600); /* family 6 */
        put32(e + 8, 0x00000201); /* FPU, APIC */
    }
    e[0] = 1; /* bus */
    e[1] = 0;
    memcpy(e + 2, "ISA   ", 6);
    cfg[7] = checksum(cfg, cfg_len);
    acpi_write(m);
}
