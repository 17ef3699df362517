// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmcsinfo-sim LAYOUT.json: run the kernel module's probe core against a
 * simulated VMX CPU and print the VMCSINFO text exactly as the module would
 * (DESIGN.md CONTRACT 3).  Exit 0 on success; 1 with the reason on stderr
 * when the probe fails; 2 for bad usage or a bad layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_cpu.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: vmcsinfo-sim [--seed N] [--stats] [--fail vmxon|vmptrld|vmclear[:N]] LAYOUT.json\n"
		"  --seed N        seed for the probe's random test values (default fixed)\n"
		"  --stats         print instruction counts and probe time to stderr\n"
		"  --fail OP[:N]   make the Nth (default 1st) VMXON/VMPTRLD/VMCLEAR fail\n");
	exit(2);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static int set_fail(struct sim_cpu *c, const char *spec)
{
	unsigned long at = 1;
	const char *colon = strchr(spec, ':');
	size_t oplen = colon ? (size_t)(colon - spec) : strlen(spec);
	char *end;

	if (colon) {
		at = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || !at)
			return -1;
	}
	if (oplen == 5 && !strncmp(spec, "vmxon", 5))
		c->fail_vmxon_at = at;
	else if (oplen == 7 && !strncmp(spec, "vmptrld", 7))
		c->fail_vmptrld_at = at;
	else if (oplen == 7 && !strncmp(spec, "vmclear", 7))
		c->fail_vmclear_at = at;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct sim_cpu cpu;	/* large: keep it off the stack */
	struct vmcsinfo_probe p;
	const char *path = NULL, *fails[8];
	unsigned int nfails = 0, i;
	unsigned long long seed = 0;
	struct timespec t0, t1;
	int stats = 0, rc;
	char err[256], *text, *out;
	size_t len;

	for (i = 1; i < (unsigned int)argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < (unsigned int)argc) {
			char *end;

			seed = strtoull(argv[++i], &end, 0);
			if (*end)
				usage();
		} else if (!strcmp(argv[i], "--stats")) {
			stats = 1;
		} else if (!strcmp(argv[i], "--fail") && i + 1 < (unsigned int)argc &&
			   nfails < 8) {
			fails[nfails++] = argv[++i];
		} else if (argv[i][0] == '-' || path) {
			usage();
		} else {
			path = argv[i];
		}
	}
	if (!path)
		usage();
	text = slurp(path);
	if (!text) {
		fprintf(stderr, "vmcsinfo-sim: cannot read %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	rc = sim_load_json(&cpu, text, err, sizeof(err));
	free(text);
	if (rc) {
		fprintf(stderr, "vmcsinfo-sim: %s: %s\n", path, err);
		sim_free(&cpu);
		return 2;
	}
	for (i = 0; i < nfails; i++) {
		if (set_fail(&cpu, fails[i])) {
			fprintf(stderr, "vmcsinfo-sim: --fail takes vmxon, vmptrld or vmclear, optionally :N (N >= 1), not '%s'\n",
				fails[i]);
			return 2;
		}
	}
	if (sim_probe_setup(&cpu, &p, seed)) {
		fprintf(stderr, "vmcsinfo-sim: out of memory\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = vmcsinfo_probe_run(&p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (stats)
		fprintf(stderr,
			"vmcsinfo-sim: %s in %.0f us: %u fields, %lu VMREAD, %lu VMWRITE, %lu VMCLEAR, %lu VMPTRLD\n",
			rc ? "probe failed" : "probed",
			(t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3,
			p.nfields, cpu.n_vmread, cpu.n_vmwrite, cpu.n_vmclear,
			cpu.n_vmptrld);
	if (rc) {
		fprintf(stderr, "vmcsinfo-sim: probe failed: %s\n", p.err);
		sim_probe_teardown(&p);
		sim_free(&cpu);
		return 1;
	}
	len = vmcsinfo_format(&p, NULL, 0);
	out = malloc(len + 1);
	if (!out) {
		fprintf(stderr, "vmcsinfo-sim: out of memory\n");
		return 2;
	}
	vmcsinfo_format(&p, out, len + 1);
	fwrite(out, 1, len, stdout);
	free(out);
	sim_probe_teardown(&p);
	sim_free(&cpu);
	return fflush(stdout) ? 2 : 0;
}
