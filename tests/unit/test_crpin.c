/* Unit tests of the pure pinning policy (src/pin/crpin.c): one per rule. */
#include "pin/crpin.h"
#include "unit.h"

TEST(allowed_masks_match_abi)
{
    CHECK_EQ(CRPIN_CR0_ALLOWED, 65536);
    CHECK_EQ(CRPIN_CR4_ALLOWED, 3147776);
}

TEST(allowed_msrs_read_for_guest_and_host)
{
    struct crpin p = {0};
    uint64_t v = 0;
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR0_PIN_ALLOWED, CRPIN_GUEST, &v), CRPIN_OK);
    CHECK_EQ(v, CRPIN_CR0_WP);
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR4_PIN_ALLOWED, CRPIN_HOST, &v), CRPIN_OK);
    CHECK_EQ(v, CRPIN_CR4_SMEP | CRPIN_CR4_SMAP | CRPIN_CR4_UMIP);
}

TEST(allowed_msrs_are_read_only)
{
    struct crpin p = {0};
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR0_PIN_ALLOWED, CRPIN_GUEST, 0), CRPIN_GP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PIN_ALLOWED, CRPIN_GUEST, CRPIN_CR4_ALLOWED), CRPIN_GP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PIN_ALLOWED, CRPIN_HOST, 0), CRPIN_GP);
}

TEST(guest_cannot_read_pinned)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_SMEP};
    uint64_t v = 0x1234;
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR0_PINNED, CRPIN_GUEST, &v), CRPIN_GP);
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR4_PINNED, CRPIN_GUEST, &v), CRPIN_GP);
    CHECK_EQ(v, 0x1234);
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR4_PINNED, CRPIN_HOST, &v), CRPIN_OK);
    CHECK_EQ(v, CRPIN_CR4_SMEP);
    CHECK_EQ(crpin_msr_read(&p, MSR_KVM_CR0_PINNED, CRPIN_HOST, &v), CRPIN_OK);
    CHECK_EQ(v, CRPIN_CR0_WP);
}

TEST(guest_write_outside_allowed_is_gp_and_changes_nothing)
{
    struct crpin p = {0, CRPIN_CR4_SMEP};
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PINNED, CRPIN_GUEST, CRPIN_CR4_SMAP | (1ull << 7)), CRPIN_GP);
    CHECK_EQ(p.cr4_pinned, CRPIN_CR4_SMEP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR0_PINNED, CRPIN_GUEST, 1), CRPIN_GP);
    CHECK_EQ(p.cr0_pinned, 0);
    /* the host is held to the allowed set too */
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR0_PINNED, CRPIN_HOST, 1ull << 31), CRPIN_GP);
    CHECK_EQ(p.cr0_pinned, 0);
}

TEST(guest_write_ors_and_never_clears)
{
    struct crpin p = {0};
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PINNED, CRPIN_GUEST, CRPIN_CR4_SMEP), CRPIN_OK);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PINNED, CRPIN_GUEST, CRPIN_CR4_SMAP), CRPIN_OK);
    CHECK_EQ(p.cr4_pinned, CRPIN_CR4_SMEP | CRPIN_CR4_SMAP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PINNED, CRPIN_GUEST, 0), CRPIN_OK);
    CHECK_EQ(p.cr4_pinned, CRPIN_CR4_SMEP | CRPIN_CR4_SMAP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR0_PINNED, CRPIN_GUEST, CRPIN_CR0_WP), CRPIN_OK);
    CHECK_EQ(p.cr0_pinned, CRPIN_CR0_WP);
}

TEST(host_write_sets_exactly)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_ALLOWED};
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR4_PINNED, CRPIN_HOST, CRPIN_CR4_UMIP), CRPIN_OK);
    CHECK_EQ(p.cr4_pinned, CRPIN_CR4_UMIP);
    CHECK_EQ(crpin_msr_write(&p, MSR_KVM_CR0_PINNED, CRPIN_HOST, 0), CRPIN_OK);
    CHECK_EQ(p.cr0_pinned, 0);
}

TEST(not_mine)
{
    struct crpin p = {0};
    uint64_t v;
    CHECK(!crpin_is_msr(0x4b564d05));
    CHECK(!crpin_is_msr(0x4b564d0a));
    CHECK(crpin_is_msr(0x4b564d06) && crpin_is_msr(0x4b564d09));
    CHECK_EQ(crpin_msr_read(&p, 0x4b564d05, CRPIN_GUEST, &v), CRPIN_NOT_MINE);
    CHECK_EQ(crpin_msr_write(&p, 0xc0000080, CRPIN_GUEST, 0), CRPIN_NOT_MINE);
}

TEST(cr_write_changing_pinned_bit_is_blocked)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_SMEP};
    uint64_t cr4 = CRPIN_CR4_SMEP | (1 << 5);
    CHECK_EQ(crpin_check_cr_write(&p, 4, cr4, cr4 & ~CRPIN_CR4_SMEP, false), CRPIN_GP);
    CHECK_EQ(crpin_check_cr_write(&p, 0, CRPIN_CR0_WP | 1, 1, false), CRPIN_GP);
}

TEST(cr_write_of_unpinned_bits_passes)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_SMEP};
    uint64_t cr4 = CRPIN_CR4_SMEP | CRPIN_CR4_SMAP | (1 << 7);
    CHECK_EQ(crpin_check_cr_write(&p, 4, cr4, cr4 & ~((1ull << 7) | CRPIN_CR4_SMAP), false), CRPIN_OK);
    CHECK_EQ(crpin_check_cr_write(&p, 0, CRPIN_CR0_WP, CRPIN_CR0_WP | 8, false), CRPIN_OK);
    CHECK_EQ(crpin_check_cr_write(&p, 3, 0, ~0ull, false), CRPIN_OK);
}

TEST(bit_pinned_while_clear_cannot_be_set)
{
    /* The seed's rule is "changes a pinned bit": documented consequence. */
    struct crpin p = {0, CRPIN_CR4_SMAP};
    CHECK_EQ(crpin_check_cr_write(&p, 4, 0, CRPIN_CR4_SMAP, false), CRPIN_GP);
}

TEST(smm_is_exempt)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_ALLOWED};
    CHECK_EQ(crpin_check_cr_write(&p, 4, CRPIN_CR4_ALLOWED, 0, true), CRPIN_OK);
    CHECK_EQ(crpin_check_cr_write(&p, 0, CRPIN_CR0_WP, 0, true), CRPIN_OK);
}

TEST(reset_clears_every_pin)
{
    struct crpin p = {CRPIN_CR0_WP, CRPIN_CR4_ALLOWED};
    crpin_reset(&p);
    CHECK_EQ(p.cr0_pinned, 0);
    CHECK_EQ(p.cr4_pinned, 0);
    CHECK_EQ(crpin_mask(&p, 4), 0);
}

static const struct unit_test tests[] = {
    T(allowed_masks_match_abi),
    T(allowed_msrs_read_for_guest_and_host),
    T(allowed_msrs_are_read_only),
    T(guest_cannot_read_pinned),
    T(guest_write_outside_allowed_is_gp_and_changes_nothing),
    T(guest_write_ors_and_never_clears),
    T(host_write_sets_exactly),
    T(not_mine),
    T(cr_write_changing_pinned_bit_is_blocked),
    T(cr_write_of_unpinned_bits_passes),
    T(bit_pinned_while_clear_cannot_be_set),
    T(smm_is_exempt),
    T(reset_clears_every_pin),
};
UNIT_MAIN(tests)
