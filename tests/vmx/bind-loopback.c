/*
 * LD_PRELOAD shim for Bochs: its rfb display (the only headless-capable GUI in
 * Debian's build) listens on 0.0.0.0:5900-5949. This turns any IPv4
 * INADDR_ANY bind into 127.0.0.1 so the test VM's console is not offered to
 * the network.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	struct sockaddr_in sin;

	if (!real_bind)
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	if (addr && addr->sa_family == AF_INET && len >= sizeof(sin)) {
		memcpy(&sin, addr, sizeof(sin));
		if (sin.sin_addr.s_addr == htonl(INADDR_ANY)) {
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real_bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
		}
	}
	return real_bind(fd, addr, len);
}
