/*
 * key_cli.c — `conveyor key`: issuing, revoking and listing bus keys
 * (DESIGN.md "Bus keys").
 *
 * A key pair is two czmq certificate files: the public one goes to the
 * trusted directory that busd and the replay servers read (BUS_KEYS_DIR,
 * re-read within a second, so issuing and revoking need no restart), the
 * secret one to wherever the program that uses it reads BUS_CERT from —
 * for an outside source, to the integrator, never kept beside the public
 * one. A server's pair (busd's) is not trusted as a client: both halves go
 * to the secret directory, and its public file is BUS_SERVER_KEY.
 */
#include "tools/key_cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buskeys.h"
#include "common/certfile.h"
#include "common/curve.h"
#include "common/envelope.h"
#include "common/log.h"

static int key_usage(void)
{
    fprintf(stderr,
            "usage: conveyor key new (--service|--source|--operator) NAME [--file FILE]\n"
            "                        [--dir TRUSTED_DIR] [--secret-dir DIR]\n"
            "       conveyor key server NAME --secret-dir DIR      (busd's pair)\n"
            "       conveyor key revoke FILE [--dir TRUSTED_DIR]\n"
            "       conveyor key list [--dir TRUSTED_DIR]\n"
            "  TRUSTED_DIR defaults to BUS_KEYS_DIR; the secret file goes to --secret-dir\n"
            "  (default: the current directory) as FILE.key_secret, mode 0600; FILE defaults\n"
            "  to NAME (give another to rotate: two keys of one name are valid at once).\n");
    return 2;
}

static const char *trusted_dir(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("BUS_KEYS_DIR");
    return env && *env ? env : NULL;
}

/* FILE must be a plain file name: no directories, nothing hidden. */
static bool file_name_ok(const char *name)
{
    return bus_name_ok(name) && name[0] != '.';
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "conveyor: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
}

/* What an integrator needs to connect, in any language with libzmq. */
static void print_connection(const char *role, const char *name, const char *public_key,
                             const char *secret_path)
{
    const char *pub = getenv("BUS_PUB_ENDPOINT"), *sub = getenv("BUS_SUB_ENDPOINT");
    const char *server = getenv("BUS_SERVER_KEY");
    char server_key[BUSKEY_Z85_LEN + 1] = "";
    certfile_t cert;
    if (server && strlen(server) == BUSKEY_Z85_LEN)
        snprintf(server_key, sizeof server_key, "%s", server);
    else if (server && certfile_read(server, &cert) == 0)
        snprintf(server_key, sizeof server_key, "%s", cert.public_key);
    printf("%s %s\n", role, name);
    printf("  public key        %s\n", public_key);
    printf("  secret key        in %s (secret-key line; give it to whoever runs the client, "
           "over a safe channel)\n",
           secret_path);
    printf("  busd's public key %s\n", server_key[0] ? server_key : "(set BUS_SERVER_KEY)");
    if (strcmp(role, "source") == 0) {
        printf("  publish           %s  topic \"ext/intake.order\", envelope stream \"%s\"\n",
               pub ? pub : "tcp://<busd>:5550", name);
        printf("  hear answers      %s  subscribe \"order/intake.\"\n",
               sub ? sub : "tcp://<busd>:5551");
    }
    printf("  connect with any libzmq binding: on every socket, before connect,\n"
           "    ZMQ_CURVE_SERVERKEY = busd's public key\n"
           "    ZMQ_CURVE_PUBLICKEY = the public key above\n"
           "    ZMQ_CURVE_SECRETKEY = the secret key\n"
           "  e.g. pyzmq: s.curve_serverkey = b\"<busd>\"; s.curve_publickey = b\"<public>\";\n"
           "              s.curve_secretkey = b\"<secret>\"; s.connect(\"%s\")\n",
           pub ? pub : "tcp://<busd>:5550");
}

static int key_new(int argc, char **argv)
{
    const char *role = NULL, *name = NULL, *file = NULL, *dir = NULL, *secret_dir = ".";
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--service") == 0 || strcmp(argv[i], "--source") == 0 ||
            strcmp(argv[i], "--operator") == 0) {
            role = argv[i] + 2;
            name = argv[i + 1];
        } else if (strcmp(argv[i], "--file") == 0)
            file = argv[i + 1];
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--secret-dir") == 0)
            secret_dir = argv[i + 1];
        else
            return key_usage();
    }
    dir = trusted_dir(dir);
    if (argc % 2 != 0 || !role || !dir)
        return key_usage();
    if (!file)
        file = name;
    if (!bus_name_ok(name) || !file_name_ok(file)) {
        fprintf(stderr, "conveyor: names are 1-63 characters of a-z 0-9 _ . -\n");
        return 2;
    }
    if (make_dir(dir) != 0 || make_dir(secret_dir) != 0)
        return 1;
    char public_path[512], secret_path[512], public_key[BUSKEY_Z85_LEN + 1];
    snprintf(public_path, sizeof public_path, "%s/%s.key", dir, file);
    snprintf(secret_path, sizeof secret_path, "%s/%s.key_secret", secret_dir, file);
    if (curve_cert_create(role, name, public_path, secret_path, public_key) != 0)
        return 1;
    print_connection(role, name, public_key, secret_path);
    return 0;
}

static int key_server(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--secret-dir") != 0 || !file_name_ok(argv[0]))
        return key_usage();
    if (make_dir(argv[2]) != 0)
        return 1;
    char public_path[512], secret_path[512], public_key[BUSKEY_Z85_LEN + 1];
    snprintf(public_path, sizeof public_path, "%s/%s.key", argv[2], argv[0]);
    snprintf(secret_path, sizeof secret_path, "%s/%s.key_secret", argv[2], argv[0]);
    if (curve_cert_create("server", argv[0], public_path, secret_path, public_key) != 0)
        return 1;
    printf("server %s\n  public key %s\n  BUS_CERT=%s (the server's)\n"
           "  BUS_SERVER_KEY=%s (everyone else's)\n",
           argv[0], public_key, secret_path, public_path);
    return 0;
}

static int key_revoke(int argc, char **argv)
{
    if ((argc != 1 && argc != 3) || (argc == 3 && strcmp(argv[1], "--dir") != 0))
        return key_usage();
    const char *dir = trusted_dir(argc == 3 ? argv[2] : NULL);
    if (!dir || !file_name_ok(argv[0]))
        return key_usage();
    char path[512];
    snprintf(path, sizeof path, "%s/%s.key", dir, argv[0]);
    if (unlink(path) != 0) {
        fprintf(stderr, "conveyor: cannot revoke %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("revoked %s: busd and the replay servers refuse it within a second; connections it "
           "holds can publish nothing more\n",
           argv[0]);
    return 0;
}

static int key_list(int argc, char **argv)
{
    if ((argc != 0 && argc != 2) || (argc == 2 && strcmp(argv[0], "--dir") != 0))
        return key_usage();
    const char *dir = trusted_dir(argc == 2 ? argv[1] : NULL);
    if (!dir)
        return key_usage();
    DIR *handle = opendir(dir);
    if (!handle) {
        fprintf(stderr, "conveyor: cannot read %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (entry->d_name[0] == '.' || len < 5 || strcmp(entry->d_name + len - 4, ".key") != 0)
            continue;
        char path[512];
        certfile_t cert;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (certfile_read(path, &cert) != 0)
            continue;
        const char *role = cert.has_service    ? "service"
                           : cert.has_source   ? "source"
                           : cert.has_operator ? "operator"
                                               : "?";
        const char *name = cert.has_service    ? cert.service
                           : cert.has_source   ? cert.source
                           : cert.has_operator ? cert.operator_name
                                               : "";
        printf("%-24.*s %-9s %-24s %s\n", (int)(len - 4), entry->d_name, role, name,
               cert.public_key);
    }
    closedir(handle);
    return 0;
}

int key_cli_run(int argc, char **argv)
{
    log_init("conveyor", LOG_WARN);
    if (argc >= 1 && strcmp(argv[0], "new") == 0)
        return key_new(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "server") == 0)
        return key_server(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return key_revoke(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return key_list(argc - 1, argv + 1);
    return key_usage();
}
