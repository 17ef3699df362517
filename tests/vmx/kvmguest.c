/*
 * kvmguest: a real KVM guest with known state, for the Bochs crash proof
 * (tests/vmx/vmx-crash.sh). It creates a VM with 2 MiB of memory and one
 * vCPU in 64-bit mode (identity-mapped 2 MiB page), sets every register the
 * dump reader decodes to a known value, and runs the vCPU in a thread: the
 * guest spins in a small loop that counts in guest memory, with interrupts
 * enabled (RFLAGS.IF=1; with IF=0 the spinning guest stalls Bochs' only CPU).
 *
 * Before the vCPU runs it prints what the guest's VMCS must hold, as
 * "KVMGUEST: expect FIELD=0xVALUE" lines named as in VMCSINFO (CONTRACT 2),
 * and "KVMGUEST: loop 0xSTART-0xEND" (GUEST_RIP is inside [START, END)).
 * What KVM itself changes on the way into the VMCS is applied here and
 * named: GUEST_CR4 has CR4.VMXE set (KVM_VM_CR4_ALWAYS_ON_UNRESTRICTED_GUEST)
 * and the host's CR4.MCE, while CR4_READ_SHADOW holds the value the guest
 * set; an unusable LDTR has
 * access rights 0x10000. Once the guest has counted, it prints
 * "KVMGUEST: running count=N" and keeps the vCPU running until the host
 * crashes. Exit status non-zero, with a "KVMGUEST: FAIL ..." line, on any
 * error or an unexpected exit of the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE 0x200000UL
#define PML4 0x1000
#define PDPT 0x2000
#define PD 0x3000
#define CODE 0x4000
#define GDT 0x5000
#define TSS 0x5100
#define IDT 0x5800
#define COUNTER 0x6000
#define STACK 0x8000

#define CR0_VALUE 0x80050033ULL /* PG AM WP NE ET MP PE */
#define CR4_VALUE 0x00000620ULL /* OSXMMEXCPT OSFXSR PAE */
#define CR4_VMXE 0x2000ULL
#define CR4_MCE 0x40ULL
#define EFER_VALUE 0x500ULL /* LMA LME */
#define RFLAGS_VALUE 0x202ULL /* IF, reserved bit 1 */
#define FS_BASE 0x00007f1234560000ULL
#define GS_BASE 0xffff888012340000ULL
#define SYSENTER_CS 0x10ULL
#define SYSENTER_ESP 0x9000ULL
#define SYSENTER_EIP 0x4100ULL

/*
 * 1: mov rax, [COUNTER]; lea rax, [rax + 1]; mov [COUNTER], rax; jmp 1b
 * (lea, not inc: the loop leaves RFLAGS as set, so GUEST_RFLAGS is exact).
 */
static const uint8_t guest_code[] = {
	0x48, 0x8b, 0x04, 0x25, COUNTER & 0xff, (COUNTER >> 8) & 0xff, 0x00, 0x00,
	0x48, 0x8d, 0x40, 0x01,
	0x48, 0x89, 0x04, 0x25, COUNTER & 0xff, (COUNTER >> 8) & 0xff, 0x00, 0x00,
	0xeb, 0xea,
};

static uint8_t *mem;
static int vcpu;
static struct kvm_run *run;

static void fail(const char *what)
{
	printf("KVMGUEST: FAIL %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, sizeof(v));
}

static void seg(struct kvm_segment *s, uint16_t sel, uint64_t base, uint32_t limit,
		uint8_t type, uint8_t s_bit, uint8_t l, uint8_t db, uint8_t g)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->type = type;
	s->s = s_bit;
	s->present = 1;
	s->l = l;
	s->db = db;
	s->g = g;
}

/* The VMX access-rights form of a segment, as KVM writes it. */
static unsigned int ar(const struct kvm_segment *s)
{
	if (s->unusable || !s->present)
		return 0x10000;
	return s->type | s->s << 4 | s->dpl << 5 | s->present << 7 | s->avl << 12 |
	       s->l << 13 | s->db << 14 | s->g << 15;
}

/*
 * KVM's vmx_set_cr4 takes the hardware CR4.MCE of the guest from the host's
 * CR4; Linux sets it when the CPU has machine checks (the "mce" flag).
 */
static uint64_t host_cr4_mce(void)
{
	char line[4096];
	uint64_t mce = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		fail("open /proc/cpuinfo");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "flags", 5)) {
			if (strstr(line, " mce ") || strstr(line, " mce\n"))
				mce = CR4_MCE;
			break;
		}
	}
	fclose(f);
	return mce;
}

static void expect(const char *field, uint64_t v)
{
	printf("KVMGUEST: expect %s=0x%llx\n", field, (unsigned long long)v);
}

static void expect_seg(const char *name, const struct kvm_segment *s)
{
	char f[64];

	snprintf(f, sizeof(f), "GUEST_%s_SELECTOR", name);
	expect(f, s->selector);
	snprintf(f, sizeof(f), "GUEST_%s_BASE", name);
	expect(f, s->base);
	snprintf(f, sizeof(f), "GUEST_%s_LIMIT", name);
	expect(f, s->limit);
	snprintf(f, sizeof(f), "GUEST_%s_AR_BYTES", name);
	expect(f, ar(s));
}

static void *vcpu_thread(void *arg)
{
	(void)arg;
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fail("KVM_RUN");
		}
		/* The loop makes no exit of its own: anything here is a fault. */
		printf("KVMGUEST: FAIL guest exit reason %u (rip 0x%llx)\n",
		       run->exit_reason, (unsigned long long)run->s.regs.regs.rip);
		fflush(stdout);
		exit(1);
	}
	return NULL;
}

int main(void)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[3];
	} msrs = { 0 };
	struct kvm_cpuid2 *cpuid;
	volatile uint64_t *counter;
	pthread_t thread;
	int kvm, vm, size, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		fail("KVM_CREATE_VM");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap guest memory");
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		fail("KVM_CREATE_VCPU");
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run");

	/* Identity map of the first 2 MiB: PML4 -> PDPT -> one 2 MiB page. */
	put64(PML4, PDPT | 0x3);
	put64(PDPT, PD | 0x3);
	put64(PD, 0x83);
	memcpy(mem + CODE, guest_code, sizeof(guest_code));
	/* A real GDT for the selectors below: null, code64, data, TSS. */
	put64(GDT + 0x08, 0x00af9b000000ffffULL);
	put64(GDT + 0x10, 0x00cf93000000ffffULL);
	put64(GDT + 0x18, 0x00008b0000000067ULL | (uint64_t)(TSS & 0xffffff) << 16);

	/*
	 * The guest's CPUID is what KVM supports: without it CR4.PAE and
	 * EFER.LME count as reserved and KVM_SET_SREGS fails with EINVAL.
	 */
	cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
	if (!cpuid)
		fail("calloc");
	cpuid->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		fail("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0)
		fail("KVM_SET_CPUID2");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail("KVM_GET_SREGS");
	seg(&sregs.cs, 0x08, 0, 0xffffffff, 0xb, 1, 1, 0, 1);
	seg(&sregs.ds, 0x10, 0, 0xffffffff, 0x3, 1, 0, 1, 1);
	sregs.es = sregs.ds;
	sregs.ss = sregs.ds;
	seg(&sregs.fs, 0x10, FS_BASE, 0xffffffff, 0x3, 1, 0, 1, 1);
	seg(&sregs.gs, 0x10, GS_BASE, 0xffffffff, 0x3, 1, 0, 1, 1);
	seg(&sregs.tr, 0x18, TSS, 0x67, 0xb, 0, 0, 0, 0);
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.unusable = 1;
	sregs.gdt.base = GDT;
	sregs.gdt.limit = 0x27;
	sregs.idt.base = IDT;
	sregs.idt.limit = 0xfff;
	sregs.cr0 = CR0_VALUE;
	sregs.cr3 = PML4;
	sregs.cr4 = CR4_VALUE;
	sregs.efer = EFER_VALUE;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		fail("KVM_SET_SREGS");
	regs.rip = CODE;
	regs.rsp = STACK;
	regs.rflags = RFLAGS_VALUE;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		fail("KVM_SET_REGS");
	msrs.hdr.nmsrs = 3;
	msrs.e[0].index = 0x174; /* IA32_SYSENTER_CS */
	msrs.e[0].data = SYSENTER_CS;
	msrs.e[1].index = 0x175; /* IA32_SYSENTER_ESP */
	msrs.e[1].data = SYSENTER_ESP;
	msrs.e[2].index = 0x176; /* IA32_SYSENTER_EIP */
	msrs.e[2].data = SYSENTER_EIP;
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 3)
		fail("KVM_SET_MSRS");

	printf("KVMGUEST: loop 0x%x-0x%lx\n", CODE, CODE + sizeof(guest_code));
	expect("GUEST_RSP", STACK);
	expect("GUEST_RFLAGS", RFLAGS_VALUE);
	expect("GUEST_CR0", CR0_VALUE);
	expect("CR0_READ_SHADOW", CR0_VALUE);
	expect("GUEST_CR3", PML4);
	expect("GUEST_CR4", (CR4_VALUE & ~CR4_MCE) | CR4_VMXE | host_cr4_mce());
	expect("CR4_READ_SHADOW", CR4_VALUE);
	expect("GUEST_IA32_EFER", EFER_VALUE);
	expect_seg("CS", &sregs.cs);
	expect_seg("DS", &sregs.ds);
	expect_seg("ES", &sregs.es);
	expect_seg("SS", &sregs.ss);
	expect_seg("FS", &sregs.fs);
	expect_seg("GS", &sregs.gs);
	expect_seg("TR", &sregs.tr);
	expect("GUEST_LDTR_AR_BYTES", ar(&sregs.ldt));
	expect("GUEST_GDTR_BASE", GDT);
	expect("GUEST_GDTR_LIMIT", 0x27);
	expect("GUEST_IDTR_BASE", IDT);
	expect("GUEST_IDTR_LIMIT", 0xfff);
	expect("GUEST_SYSENTER_CS", SYSENTER_CS);
	expect("GUEST_SYSENTER_ESP", SYSENTER_ESP);
	expect("GUEST_SYSENTER_EIP", SYSENTER_EIP);
	expect("GUEST_ACTIVITY_STATE", 0);

	if (pthread_create(&thread, NULL, vcpu_thread, NULL))
		fail("pthread_create");
	counter = (volatile uint64_t *)(mem + COUNTER);
	for (i = 0; i < 3000 && *counter == 0; i++)
		usleep(10000);
	if (*counter == 0) {
		errno = ETIMEDOUT;
		fail("the guest did not count within 30 s");
	}
	printf("KVMGUEST: running count=%llu\n", (unsigned long long)*counter);
	pthread_join(thread, NULL);
	return 1;
}
