/* jsonout.c: the JSON objects more than one command prints (docs/JSON.md): a snapshot's id
 * pair, a snapshot, a tree node. Every command names a snapshot's id the same way, "id" (64
 * hex digits) and "short_id" (the first 8), and writes names from the file system with
 * dr_json_kname, so that one that is not valid UTF-8 keeps its exact bytes. */
#include "cmd_int.h"

#include "drrepo/util.h"

void dr_cmd_json_ids(struct dr_json *w, const struct dr_id *id)
{
    char hex[DR_ID_HEX_LEN + 1], sid[9];
    dr_short_id(id, sid);
    dr_json_kstring(w, "id", dr_id_hex(id, hex));
    dr_json_kstring(w, "short_id", sid);
}

void dr_cmd_json_snapshot(struct dr_json *w, const struct dr_id *id, const struct dr_snapshot *s)
{
    char hex[DR_ID_HEX_LEN + 1], when[32];
    dr_time_format(s->time_ns, when, sizeof(when));
    dr_cmd_json_ids(w, id);
    dr_json_kstring(w, "time", when);
    dr_json_ki64(w, "time_ns", s->time_ns);
    dr_json_kname(w, "host", s->host);
    dr_json_kname(w, "user", s->user);
    dr_json_kstring(w, "source", s->source ? s->source : "");
    dr_json_knames(w, "paths", (const char *const *)s->paths, s->npaths);
    dr_json_knames(w, "tags", (const char *const *)s->tags, s->ntags);
    dr_json_kstring(w, "tree", dr_id_hex(&s->tree, hex));
    dr_json_kstring(w, "parent", s->has_parent ? dr_id_hex(&s->parent, hex) : NULL);
    /* the snapshot this one replaces (repair snapshots, tag); null for one taken by snapshot */
    dr_json_kstring(w, "original", s->has_original ? dr_id_hex(&s->original, hex) : NULL);
}

const char *dr_cmd_node_type(const struct dr_node *n)
{
    switch (n->type) {
    case DR_NODE_FILE: return "file";
    case DR_NODE_DIR: return "dir";
    case DR_NODE_SYMLINK: return "symlink";
    case DR_NODE_CHARDEV: return "chardev";
    case DR_NODE_BLOCKDEV: return "blockdev";
    case DR_NODE_FIFO: return "fifo";
    case DR_NODE_SOCKET: return "socket";
    default: return "unknown";
    }
}

void dr_cmd_json_node(struct dr_json *w, const char *path, const struct dr_node *n)
{
    char when[32];
    dr_time_format(n->mtime_ns, when, sizeof(when));
    dr_json_kname(w, "path", path);
    dr_json_kname(w, "name", n->name ? n->name : "");
    dr_json_kstring(w, "type", dr_cmd_node_type(n));
    dr_json_ku64(w, "size", n->size);
    dr_json_ku64(w, "mode", n->mode);
    dr_json_ku64(w, "uid", n->uid);
    dr_json_ku64(w, "gid", n->gid);
    dr_json_kname(w, "user", n->user ? n->user : "");
    dr_json_kname(w, "group", n->group ? n->group : "");
    dr_json_kstring(w, "mtime", when);
    dr_json_ki64(w, "mtime_ns", n->mtime_ns);
    dr_json_ki64(w, "ctime_ns", n->ctime_ns);
    dr_json_ku64(w, "inode", n->inode);
    dr_json_ku64(w, "links", n->nlink);
    if (n->type == DR_NODE_FILE) {
        /* how the file was cut shows in its chunk count (format/chunker.md) */
        dr_json_ku64(w, "chunks", n->nchunks);
    }
    if (n->type == DR_NODE_SYMLINK) {
        dr_json_kname(w, "target", n->target ? n->target : "");
    }
    if (n->type == DR_NODE_CHARDEV || n->type == DR_NODE_BLOCKDEV) {
        dr_json_ku64(w, "rdev", n->rdev);
    }
    dr_json_kbool(w, "damaged", (n->flags & DR_NODE_F_DAMAGED) != 0);
    dr_json_kbool(w, "incomplete", n->type == DR_NODE_DIR && (n->flags & DR_NODE_F_INCOMPLETE));
}
