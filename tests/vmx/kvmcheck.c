/*
 * kvmcheck: prove KVM is usable: open /dev/kvm, KVM_GET_API_VERSION,
 * KVM_CREATE_VM, KVM_CREATE_VCPU. Prints "KVMCHECK: PASS ..." or
 * "KVMCHECK: FAIL ..."; exit status 0 only on PASS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("KVMCHECK: FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
	int kvm, vm, vcpu, api;

	kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api < 0)
		return fail("KVM_GET_API_VERSION");
	if (api != KVM_API_VERSION) {
		printf("KVMCHECK: FAIL KVM_GET_API_VERSION returned %d, want %d\n", api,
		       KVM_API_VERSION);
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	printf("KVMCHECK: PASS api=%d vm_fd=%d vcpu_fd=%d\n", api, vm, vcpu);
	close(vcpu);
	close(vm);
	close(kvm);
	return 0;
}
