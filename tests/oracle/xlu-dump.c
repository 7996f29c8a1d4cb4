/* xlu-dump: the libxlutil oracle for txl's xl.cfg, disk-spec and vif-rate parsers (differential tests).
 *
 * Runs Debian's libxlutil (libxen-dev, Xen 4.17) on inputs and prints one JSON line per input
 * with exactly what libxlutil holds afterwards. Needs no running Xen.
 *
 *   xlu-dump file PATH...   parse each file with xlu_cfg_readfile
 *   xlu-dump batch          read records from stdin: "<kind> <length>\n<length bytes>\n", kind is
 *                           c (xl.cfg text, xlu_cfg_readdata), d (disk spec, xlu_disk_parse) or
 *                           r (vif rate, xlu_vif_parse_rate)
 *
 * Each input is parsed in a forked child, so an input that makes libxlutil abort (an assert on a
 * NUL byte inside a quoted string, for instance) yields {"crash":SIGNAL} instead of ending the run.
 *
 * cfg output:  {"rc":ERRNO,"report":"...","settings":[{"name","op","line","value"}...]}
 *              settings in libxlutil's own order (newest first; xlu_cfg_get_* returns the first match).
 * disk output: {"rc":ERRNO,"report":"...","disk":{libxl_device_disk fields}}
 * rate output: {"rc":ERRNO,"report":"...","bytes_per_interval":N,"interval_usecs":N}
 * Strings are bytes: printable ASCII as is, every other byte as \u00XX (read them back as latin1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxl.h>
#include <libxlutil.h>

/* Mirrors of libxlutil's private structures, from Xen 4.17 tools/libs/util/libxlu_internal.h
 * (not shipped by libxen-dev). There is no public way to enumerate the settings of an XLU_Config. */
struct XLU_ConfigList {
    int avalues;
    int nvalues;
    XLU_ConfigValue **values;
};
typedef struct {
    int first_line, first_column, last_line, last_column;
} mirror_YYLTYPE;
struct XLU_ConfigValue {
    enum XLU_ConfigValueType type;
    union {
        char *string;
        XLU_ConfigList list;
    } u;
    mirror_YYLTYPE loc;
};
typedef struct mirror_XLU_ConfigSetting {
    struct mirror_XLU_ConfigSetting *next;
    char *name;
    XLU_ConfigValue *value;
    enum XLU_Operation op;
    int lineno;
} mirror_XLU_ConfigSetting;
struct XLU_Config {
    mirror_XLU_ConfigSetting *settings;
    FILE *report;
    char *config_source;
};

static void put_bytes(FILE *out, const char *s, size_t n) {
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f) fputc(c, out);
        else fprintf(out, "\\u%04x", c);
    }
    fputc('"', out);
}

static void put_str(FILE *out, const char *s) {
    if (!s) fputs("null", out);
    else put_bytes(out, s, strlen(s));
}

static void put_value(FILE *out, const XLU_ConfigValue *v) {
    if (v->type == XLU_STRING) {
        put_str(out, v->u.string);
        return;
    }
    fputc('[', out);
    for (int i = 0; i < v->u.list.nvalues; i++) {
        if (i) fputc(',', out);
        put_value(out, v->u.list.values[i]);
    }
    fputc(']', out);
}

static void put_defbool(FILE *out, const char *key, libxl_defbool b) {
    fprintf(out, ",\"%s\":%s", key, libxl_defbool_is_default(b) ? "\"default\"" : libxl_defbool_val(b) ? "true" : "false");
}

static void put_report(FILE *out, char *report, size_t len) {
    fputs(",\"report\":", out);
    put_bytes(out, report ? report : "", report ? len : 0);
}

static void dump_cfg(FILE *out, const char *data, size_t len, const char *path) {
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    XLU_Config *cfg = xlu_cfg_init(rep, path ? path : "input");
    int rc = path ? xlu_cfg_readfile(cfg, path) : xlu_cfg_readdata(cfg, data, (int)len);
    fflush(rep);
    fprintf(out, "{\"rc\":%d", rc);
    put_report(out, report, report_len);
    if (!rc) {
        fputs(",\"settings\":[", out);
        int first = 1;
        for (mirror_XLU_ConfigSetting *s = cfg->settings; s; s = s->next) {
            if (!first) fputc(',', out);
            first = 0;
            fputs("{\"name\":", out);
            put_str(out, s->name);
            fprintf(out, ",\"op\":%d,\"line\":%d,\"value\":", (int)s->op, s->lineno);
            put_value(out, s->value);
            fputc('}', out);
        }
        fputc(']', out);
    }
    fputs("}\n", out);
    xlu_cfg_destroy(cfg);
    fclose(rep);
    free(report);
}

static void dump_disk(FILE *out, const char *spec) {
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    XLU_Config *cfg = xlu_cfg_init(rep, "input");
    libxl_device_disk d;
    libxl_device_disk_init(&d);
    int rc = xlu_disk_parse(cfg, 1, &spec, &d);
    fflush(rep);
    fprintf(out, "{\"rc\":%d", rc);
    put_report(out, report, report_len);
    fprintf(out, ",\"disk\":{\"backend_domid\":%u,\"backend_domname\":", (unsigned)d.backend_domid);
    put_str(out, d.backend_domname);
    fputs(",\"pdev_path\":", out);
    put_str(out, d.pdev_path);
    fputs(",\"vdev\":", out);
    put_str(out, d.vdev);
    fprintf(out, ",\"backend\":\"%s\",\"format\":\"%s\",\"script\":", libxl_disk_backend_to_string(d.backend),
            libxl_disk_format_to_string(d.format));
    put_str(out, d.script);
    fprintf(out, ",\"removable\":%d,\"readwrite\":%d,\"is_cdrom\":%d,\"direct_io_safe\":%s", d.removable, d.readwrite,
            d.is_cdrom, d.direct_io_safe ? "true" : "false");
    put_defbool(out, "discard_enable", d.discard_enable);
    fprintf(out, ",\"specification\":\"%s\"", libxl_disk_specification_to_string(d.specification));
    put_defbool(out, "colo_enable", d.colo_enable);
    put_defbool(out, "colo_restore_enable", d.colo_restore_enable);
    fputs(",\"colo_host\":", out);
    put_str(out, d.colo_host);
    fprintf(out, ",\"colo_port\":%d,\"colo_export\":", d.colo_port);
    put_str(out, d.colo_export);
    fputs(",\"active_disk\":", out);
    put_str(out, d.active_disk);
    fputs(",\"hidden_disk\":", out);
    put_str(out, d.hidden_disk);
    put_defbool(out, "trusted", d.trusted);
    fputs("}}\n", out);
    libxl_device_disk_dispose(&d);
    xlu_cfg_destroy(cfg);
    fclose(rep);
    free(report);
}

static void dump_rate(FILE *out, const char *rate) {
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    XLU_Config *cfg = xlu_cfg_init(rep, "input");
    libxl_device_nic nic;
    libxl_device_nic_init(&nic);
    int rc = xlu_vif_parse_rate(cfg, rate, &nic);
    fflush(rep);
    fprintf(out, "{\"rc\":%d", rc);
    put_report(out, report, report_len);
    fprintf(out, ",\"bytes_per_interval\":%llu,\"interval_usecs\":%u}\n", (unsigned long long)nic.rate_bytes_per_interval,
            (unsigned)nic.rate_interval_usecs);
    libxl_device_nic_dispose(&nic);
    xlu_cfg_destroy(cfg);
    fclose(rep);
    free(report);
}

/* Runs one input in a child so that an abort() inside libxlutil is reported, not fatal. */
static void isolated(char kind, const char *data, size_t len, const char *path) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        /* libxlutil's assertion messages are not part of the answer. */
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        /* A child that aborts must not print half a line: build the line in memory first. */
        char *line = NULL;
        size_t line_len = 0;
        FILE *out = open_memstream(&line, &line_len);
        if (kind == 'c') dump_cfg(out, data, len, path);
        else if (kind == 'd') dump_disk(out, data);
        else dump_rate(out, data);
        fclose(out);
        fwrite(line, 1, line_len, stdout);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status)) printf("{\"crash\":%d}\n", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    else if (WEXITSTATUS(status) != 0) printf("{\"crash\":-%d}\n", WEXITSTATUS(status));
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "file")) {
        for (int i = 2; i < argc; i++) isolated('c', NULL, 0, argv[i]);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "batch")) {
        char kind;
        size_t len;
        while (scanf(" %c %zu", &kind, &len) == 2) {
            if (getchar() != '\n') { fprintf(stderr, "xlu-dump: bad record header\n"); return 2; }
            char *data = malloc(len + 1);
            if (!data || fread(data, 1, len, stdin) != len) { fprintf(stderr, "xlu-dump: short record\n"); return 2; }
            data[len] = 0;
            if (kind != 'c' && kind != 'd' && kind != 'r') { fprintf(stderr, "xlu-dump: bad kind %c\n", kind); return 2; }
            isolated(kind, data, len, NULL);
            free(data);
        }
        return 0;
    }
    fprintf(stderr, "usage: xlu-dump file PATH... | xlu-dump batch < records\n");
    return 2;
}
