/*
 * notecheck: verify that /sys/kernel/vmcsinfo/note points at an ELF note in
 * physical memory (name "VMCSINFO", n_type 0) whose desc is exactly the text of
 * /sys/kernel/vmcsinfo/vmcsinfo.
 *
 * Physical memory is read through /proc/kcore: its PT_LOAD program headers for
 * RAM carry the physical address in p_paddr (/dev/mem is off limits under
 * STRICT_DEVMEM). Prints one line "NOTECHECK: PASS ..." or "NOTECHECK: FAIL ...";
 * exit status 0 only on PASS.
 *
 * usage: notecheck [NOTE_FILE [TEXT_FILE [KCORE]]]
 *        notecheck --gone NOTE_COPY [KCORE]
 *
 * --gone: NOTE_COPY is the "paddr size" the note file said before the module
 * was removed; PASS when that memory no longer holds a VMCSINFO note (the
 * module clears its note before freeing it, so full dumps find no stale one).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOTE_NAME "VMCSINFO"

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("NOTECHECK: FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

/* Read a whole (small, sysfs) file; returns malloc'd buffer and its length. */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	if (!buf)
		fail("out of memory");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				fail("out of memory");
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0)
			fail("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

static void pread_full(int fd, void *buf, size_t len, off_t off, const char *what)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (r < 0)
			fail("read %s at offset 0x%llx: %s", what,
			     (unsigned long long)(off + (off_t)done), strerror(errno));
		if (r == 0)
			fail("short read of %s at offset 0x%llx", what,
			     (unsigned long long)(off + (off_t)done));
		done += (size_t)r;
	}
}

static size_t align4(size_t x)
{
	return (x + 3) & ~(size_t)3;
}

int main(int argc, char **argv)
{
	int gone = argc > 1 && !strcmp(argv[1], "--gone");
	char **args = gone ? argv + 1 : argv;
	int nargs = gone ? argc - 1 : argc;
	const char *note_path = nargs > 1 ? args[1] : "/sys/kernel/vmcsinfo/note";
	const char *text_path = gone ? NULL : nargs > 2 ? args[2] : "/sys/kernel/vmcsinfo/vmcsinfo";
	const char *kcore_path = nargs > (gone ? 2 : 3) ? args[gone ? 2 : 3] : "/proc/kcore";
	unsigned long long paddr, size;
	size_t note_len, text_len, need;
	char *note_txt, *text, *mem;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	Elf64_Nhdr nh;
	off_t file_off = -1;
	int fd, i;

	note_txt = slurp(note_path, &note_len);
	note_txt = realloc(note_txt, note_len + 1);
	if (!note_txt)
		fail("out of memory");
	note_txt[note_len] = '\0';
	if (sscanf(note_txt, "%llx %llx", &paddr, &size) != 2)
		fail("%s: cannot parse \"<paddr hex> <size hex>\" from '%s'", note_path, note_txt);
	if (size < sizeof(Elf64_Nhdr) || size > (16u << 20))
		fail("%s: implausible note size 0x%llx", note_path, size);
	text = gone ? NULL : slurp(text_path, &text_len);

	fd = open(kcore_path, O_RDONLY);
	if (fd < 0)
		fail("open %s: %s", kcore_path, strerror(errno));
	pread_full(fd, &eh, sizeof(eh), 0, "ELF header");
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		fail("%s is not an ELF64 core", kcore_path);
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph)
		fail("out of memory");
	pread_full(fd, ph, (size_t)eh.e_phnum * sizeof(*ph), (off_t)eh.e_phoff, "program headers");
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_paddr == (Elf64_Addr)-1)
			continue;
		if (paddr >= ph[i].p_paddr && paddr + size <= ph[i].p_paddr + ph[i].p_memsz) {
			file_off = (off_t)(ph[i].p_offset + (paddr - ph[i].p_paddr));
			break;
		}
	}
	if (file_off < 0)
		fail("no PT_LOAD segment of %s covers paddr 0x%llx size 0x%llx",
		     kcore_path, paddr, size);

	mem = malloc(size);
	if (!mem)
		fail("out of memory");
	pread_full(fd, mem, size, file_off, "note memory");
	close(fd);

	memcpy(&nh, mem, sizeof(nh));
	if (gone) {
		if (nh.n_namesz == sizeof(NOTE_NAME) &&
		    !memcmp(mem + sizeof(nh), NOTE_NAME, sizeof(NOTE_NAME)))
			fail("the note is still in memory at paddr 0x%llx after the module was removed",
			     paddr);
		printf("NOTECHECK: PASS gone paddr=0x%llx holds no VMCSINFO note\n", paddr);
		return 0;
	}
	if (nh.n_namesz != sizeof(NOTE_NAME))
		fail("n_namesz %u, want %zu", nh.n_namesz, sizeof(NOTE_NAME));
	if (memcmp(mem + sizeof(nh), NOTE_NAME, sizeof(NOTE_NAME)))
		fail("note name is not \"" NOTE_NAME "\"");
	if (nh.n_type != 0)
		fail("n_type %u, want 0", nh.n_type);
	need = sizeof(nh) + align4(nh.n_namesz) + nh.n_descsz;
	if (need > size)
		fail("note (0x%zx bytes with desc 0x%x) overflows advertised size 0x%llx",
		     need, nh.n_descsz, size);
	if (nh.n_descsz != text_len)
		fail("desc size %u != %s size %zu", nh.n_descsz, text_path, text_len);
	if (memcmp(mem + sizeof(nh) + align4(nh.n_namesz), text, text_len))
		fail("desc bytes differ from %s", text_path);

	printf("NOTECHECK: PASS paddr=0x%llx size=0x%llx descsz=%u\n", paddr, size, nh.n_descsz);
	return 0;
}
