// SPDX-License-Identifier: MIT
/*
 * kconfig-eval: hdrtest's long-lived Kconfig evaluator.
 *
 * Linked against a kernel tree's own scripts/kconfig sources (built in a private
 * directory), so it evaluates exactly as that tree's `conf --olddefconfig` does, but
 * parses Kconfig (and runs its toolchain probes) once instead of once per configuration.
 *
 * Protocol, one request per line on stdin, one answer per request on stdout:
 *   REF <path>   read <path> as conf_read() does; it becomes the reference state.
 *                Answer: every line conf_write() would write, then "." alone.
 *   EVAL <path>  read <path> from scratch (the reference is untouched); answer the
 *                .config lines that differ from the reference, "-CONFIG_X" for a symbol
 *                the reference writes and this state does not, then ".".
 *   SET          followed by .config lines, then "." alone: the answer EVAL gives for the
 *                reference file with these lines edited in as scripts/config edits them (an
 *                existing line replaced where it stands, a new one appended), without
 *                reading any file: the state right after reading the reference is restored
 *                by copying.  "?" alone (then ".") when a line is one this shortcut does
 *                not model (a value conf would warn about, a repeated symbol, or a
 *                reference conf warns about): send EVAL with the edited file instead.
 *   MODEL        the model, one record per line, then ".":
 *                  S NAME TYPE            a symbol (in .config order); the lines below describe it
 *                  V EXPR                 visibility (its prompts' conditions, OR-ed)
 *                  D EXPR / R EXPR / I EXPR   depends on / selected by / implied by
 *                  F EXPR COND            a default, in order (COND includes the dependencies)
 *                  N LOW HIGH COND        a range
 *                  C INDEX                member of choice INDEX
 *                then one record per choice:
 *                  K INDEX                choice INDEX; V and F lines follow (F: the default member)
 *                EXPR is prefix notation: "& A B", "| A B", "! A", "= A B", "!= A B",
 *                "< A B", "<= A B", "> A B", ">= A B", a symbol name, or a quoted constant;
 *                "-" for none.
 *   QUIT         exit.
 * An answer that starts with "!" is an error message (the request failed, the helper
 * goes on).  The first line written, after the parse, is "READY <symbols>".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkc.h"
#include "xalloc.h"
#include "internal.h"

/* Symbols in the order conf_write() visits them: the menu tree, first occurrence. */
static struct symbol **order;
static size_t n_order;
/* The reference state: the .config text of each symbol in `order`, NULL when unwritten. */
static char **reference;

/* conf_read() moves choice members it reads to the front of their choice's priority list;
 * a fresh `conf` starts from Kconfig order, so every request must too. */
struct choice_snapshot {
	struct menu *menu;
	struct symbol **members;
	size_t count;
};
static struct choice_snapshot *choices;
static size_t n_choices;

/* Every symbol's computed state as a fresh `conf` has it before reading .config.  kconfig's
 * choice code reads a member's `visible` without recomputing it when an earlier member already
 * wins; a fresh process has `no` there, a long-lived one the previous request's answer (seen:
 * CONFIG_DEFAULT_CDG written as "is not set" after any request that enabled TCP_CONG_CDG). */
struct symbol_snapshot {
	struct symbol *sym;
	struct symbol_value curr;
	tristate visible, dir_dep, rev_dep, implied;
	int flags;
};
static struct symbol_snapshot *fresh;
static size_t n_fresh;

static void *grow(void *array, size_t count, size_t size);

/* kconfig's expr_invalidate_all() walks the expression hash table bucket by bucket: ~137k
 * nodes scattered in memory on Linux 6.12, 20 ms per call, half of a whole evaluation.  The
 * helper is linked with --wrap=expr_invalidate_all so that kconfig's own calls (conf_read,
 * sym_clear_all_valid) land here: the same nodes, cleared in address order from an array.
 * Expressions are hash-consed and never freed; a new one is added at the head of its bucket,
 * so comparing the bucket heads with the ones the array was built from finds any addition. */
static struct expr **all_exprs;
static size_t n_all_exprs;
static struct hlist_node *expr_heads[EXPR_HASHSIZE];

static int by_address(const void *a, const void *b)
{
	const struct expr *x = *(struct expr *const *)a, *y = *(struct expr *const *)b;

	return (x > y) - (x < y);
}

static void collect_exprs(void)
{
	struct expr *e;
	size_t cap = 0;

	n_all_exprs = 0;
	hash_for_each(expr_hashtable, e, node) {
		if (n_all_exprs == cap) {
			cap = cap ? 2 * cap : 4096;
			all_exprs = realloc(all_exprs, cap * sizeof(*all_exprs));
			if (!all_exprs)
				exit(3);
		}
		all_exprs[n_all_exprs++] = e;
	}
	qsort(all_exprs, n_all_exprs, sizeof(*all_exprs), by_address);
	for (size_t b = 0; b < EXPR_HASHSIZE; b++)
		expr_heads[b] = expr_hashtable[b].first;
}

void __wrap_expr_invalidate_all(void);
void __wrap_expr_invalidate_all(void)
{
	for (size_t b = 0; b < EXPR_HASHSIZE; b++)
		if (expr_heads[b] != expr_hashtable[b].first) {
			collect_exprs();
			break;
		}
	for (size_t i = 0; i < n_all_exprs; i++)
		all_exprs[i]->val_is_valid = false;
}

static void snapshot_symbols(void)
{
	struct symbol *sym;

	for_all_symbols(sym) {
		struct symbol_snapshot *snap;

		fresh = grow(fresh, n_fresh, sizeof(*fresh));
		snap = &fresh[n_fresh++];
		snap->sym = sym;
		snap->curr = sym->curr;
		snap->visible = sym->visible;
		snap->dir_dep = sym->dir_dep.tri;
		snap->rev_dep = sym->rev_dep.tri;
		snap->implied = sym->implied.tri;
		snap->flags = sym->flags;
	}
}

static void restore_symbols(void)
{
	for (size_t i = 0; i < n_fresh; i++) {
		struct symbol_snapshot *snap = &fresh[i];
		struct symbol *sym = snap->sym;

		sym->curr = snap->curr;
		sym->visible = snap->visible;
		sym->dir_dep.tri = snap->dir_dep;
		sym->rev_dep.tri = snap->rev_dep;
		sym->implied.tri = snap->implied;
		sym->flags = snap->flags;
	}
}

/* The state right after conf_read_simple() of the reference, for SET: user values, flags
 * and each choice's member order as reading the reference leaves them. */
struct read_snapshot {
	struct symbol_value def;
	int flags;
};
static struct read_snapshot *after_read;
static size_t n_after_read;
static struct symbol **read_choice_order;
static size_t n_read_choice_order;
static bool read_changed;
/* Why SET cannot be answered by copying (NULL when it can). */
static const char *no_shortcut = "no reference read yet";

static bool has_string_value(const struct symbol *sym)
{
	return sym->type == S_INT || sym->type == S_HEX || sym->type == S_STRING;
}

static void snapshot_read(void)
{
	size_t k = 0;

	if (!after_read) {
		after_read = calloc(n_fresh ? n_fresh : 1, sizeof(*after_read));
		read_choice_order = calloc(n_read_choice_order ? n_read_choice_order : 1, sizeof(*read_choice_order));
		if (!after_read || !read_choice_order)
			exit(3);
	}
	for (size_t i = 0; i < n_fresh; i++) {
		struct symbol *sym = fresh[i].sym;

		if (i < n_after_read && has_string_value(sym))
			free(after_read[i].def.val);
		after_read[i].def = sym->def[S_DEF_USER];
		if (has_string_value(sym) && sym->def[S_DEF_USER].val)
			after_read[i].def.val = xstrdup(sym->def[S_DEF_USER].val);
		after_read[i].flags = sym->flags;
	}
	for (size_t c = 0; c < n_choices; c++) {
		struct symbol *sym;

		list_for_each_entry(sym, &choices[c].menu->choice_members, choice_link)
			read_choice_order[k++] = sym;
	}
	n_after_read = n_fresh;
}

static void restore_read(void)
{
	size_t k = 0;

	for (size_t i = 0; i < n_fresh; i++) {
		struct symbol_snapshot *snap = &fresh[i];
		struct symbol *sym = snap->sym;

		/* conf_read_simple() frees these too: they are always our or its own copies. */
		if (has_string_value(sym))
			free(sym->def[S_DEF_USER].val);
		sym->def[S_DEF_USER] = after_read[i].def;
		if (has_string_value(sym) && after_read[i].def.val)
			sym->def[S_DEF_USER].val = xstrdup(after_read[i].def.val);
		sym->curr = snap->curr;
		sym->visible = snap->visible;
		sym->dir_dep.tri = snap->dir_dep;
		sym->rev_dep.tri = snap->rev_dep;
		sym->implied.tri = snap->implied;
		sym->flags = after_read[i].flags;
	}
	for (size_t c = 0; c < n_choices; c++) {
		INIT_LIST_HEAD(&choices[c].menu->choice_members);
		for (size_t j = 0; j < choices[c].count; j++)
			list_add_tail(&read_choice_order[k++]->choice_link, &choices[c].menu->choice_members);
	}
	expr_invalidate_all();
	conf_set_changed(read_changed);
}

static void *grow(void *array, size_t count, size_t size)
{
	void *out = realloc(array, (count + 1) * size);

	if (!out) {
		fputs("kconfig-eval: out of memory\n", stderr);
		exit(3);
	}
	return out;
}

static void collect_order(void)
{
	struct menu *menu;
	struct symbol *sym;

	for_all_symbols(sym)
		sym->flags &= ~SYMBOL_WRITTEN;
	menu_for_each_entry(menu) {
		sym = menu->sym;
		if (!sym || sym_is_choice(sym) || (sym->flags & SYMBOL_WRITTEN))
			continue;
		sym->flags |= SYMBOL_WRITTEN;
		order = grow(order, n_order, sizeof(*order));
		order[n_order++] = sym;
	}
	for_all_symbols(sym)
		sym->flags &= ~SYMBOL_WRITTEN;
	reference = calloc(n_order ? n_order : 1, sizeof(*reference));
}

static void snapshot_choices(void)
{
	struct menu *menu;
	struct symbol *sym;

	menu_for_each_entry(menu) {
		struct choice_snapshot *snap;

		if (!menu->sym || !sym_is_choice(menu->sym))
			continue;
		choices = grow(choices, n_choices, sizeof(*choices));
		snap = &choices[n_choices++];
		snap->menu = menu;
		snap->members = NULL;
		snap->count = 0;
		list_for_each_entry(sym, &menu->choice_members, choice_link) {
			snap->members = grow(snap->members, snap->count, sizeof(*snap->members));
			snap->members[snap->count++] = sym;
		}
	}
}

static void restore_choices(void)
{
	for (size_t i = 0; i < n_choices; i++) {
		struct choice_snapshot *snap = &choices[i];

		INIT_LIST_HEAD(&snap->menu->choice_members);
		for (size_t j = 0; j < snap->count; j++)
			list_add_tail(&snap->members[j]->choice_link, &snap->menu->choice_members);
	}
}

/* The text conf_write() gives `sym` after the ".config" name, or NULL when unwritten. */
static char *dotconfig_value(struct symbol *sym)
{
	const char *val, *p;
	char *out, *q;

	sym_calc_value(sym);
	if (!(sym->flags & SYMBOL_WRITE) || sym->type == S_UNKNOWN)
		return NULL;
	val = sym_get_string_value(sym);
	if (sym->type != S_STRING)
		return strdup(val);
	out = malloc(2 * strlen(val) + 3);
	if (!out)
		exit(3);
	q = out;
	*q++ = '"';
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			*q++ = '\\';
		*q++ = *p;
	}
	*q++ = '"';
	*q = '\0';
	return out;
}

static void print_line(const struct symbol *sym, const char *value)
{
	if (!value)
		printf("-%s%s\n", CONFIG_, sym->name);
	else if ((sym->type == S_BOOLEAN || sym->type == S_TRISTATE) && !strcmp(value, "n"))
		printf("# %s%s is not set\n", CONFIG_, sym->name);
	else
		printf("%s%s=%s\n", CONFIG_, sym->name, value);
}

/* The rest of conf_read() after its conf_read_simple(): compute every symbol, in kconfig's
 * order (the choice code's reuse of stale visibility makes the order matter), and note
 * whether a value read was not kept. */
static void calc_after_read(bool warned)
{
	struct symbol *sym;

	sym_calc_value(modules_sym);
	for_all_symbols(sym) {
		sym_calc_value(sym);
		if (sym_is_choice(sym))
			continue;
		if (sym_has_value(sym) && (sym->flags & SYMBOL_WRITE)) {
			switch (sym->type) {
			case S_BOOLEAN:
			case S_TRISTATE:
				if (sym->def[S_DEF_USER].tri == sym_get_tristate_value(sym))
					continue;
				break;
			default:
				if (!strcmp(sym->curr.val, sym->def[S_DEF_USER].val))
					continue;
				break;
			}
		} else if (!sym_has_value(sym) && !(sym->flags & SYMBOL_WRITE)) {
			continue;
		}
		conf_set_changed(true);
	}
	if (warned)
		conf_set_changed(true);
	/* What conf_write() does before writing: a read that changed nothing recomputes. */
	if (!conf_get_changed())
		sym_clear_all_valid();
}

static int load(const char *path)
{
	restore_symbols();
	restore_choices();
	if (conf_read(path))
		return 1;
	if (!conf_get_changed())
		sym_clear_all_valid();
	return 0;
}

/* conf_read() of the reference, split so that the state between its read and its
 * computation can be kept for SET.  KCONFIG_WERROR makes conf_errors() report whether the
 * read warned (conf_read() counts warnings as a change; SET does not model them). */
static int load_reference(const char *path)
{
	bool warned;

	restore_symbols();
	restore_choices();
	conf_set_changed(false);
	setenv("KCONFIG_WERROR", "1", 1);
	if (conf_read_simple(path, S_DEF_USER)) {
		unsetenv("KCONFIG_WERROR");
		no_shortcut = "the reference could not be read";
		sym_calc_value(modules_sym);
		return 1;
	}
	warned = conf_errors();
	unsetenv("KCONFIG_WERROR");
	read_changed = conf_get_changed();
	snapshot_read();
	no_shortcut = warned ? "conf warns about the reference" : NULL;
	calc_after_read(warned);
	return 0;
}

static void emit(int make_reference)
{
	for (size_t i = 0; i < n_order; i++) {
		struct symbol *sym = order[i];
		char *value = dotconfig_value(sym);

		if (make_reference) {
			free(reference[i]);
			reference[i] = value;
			if (value)
				print_line(sym, value);
			continue;
		}
		if (!value != !reference[i] || (value && strcmp(value, reference[i])))
			print_line(sym, value);
		free(value);
	}
	puts(".");
}

static void answer(const char *path, int make_reference)
{
	if (make_reference ? load_reference(path) : load(path)) {
		printf("!cannot read %s\n.\n", path);
		return;
	}
	emit(make_reference);
}

/* conf_set_sym_val() for one value of a SET line; false where conf would warn (or, for a
 * string without its opening quote, silently drop the value): SET leaves those to EVAL. */
static bool set_value(struct symbol *sym, char *val)
{
	char *p2;

	switch (sym->type) {
	case S_TRISTATE:
		if (val[0] == 'm') {
			sym->def[S_DEF_USER].tri = mod;
			break;
		}
		/* fall through */
	case S_BOOLEAN:
		if (val[0] != 'y' && val[0] != 'n')
			return false;
		sym->def[S_DEF_USER].tri = val[0] == 'y' ? yes : no;
		break;
	case S_STRING:
		if (*val++ != '"')
			return false;
		for (p2 = val; (p2 = strpbrk(p2, "\"\\")); p2++) {
			if (*p2 == '"') {
				*p2 = 0;
				break;
			}
			memmove(p2, p2 + 1, strlen(p2));
		}
		if (!p2)
			return false;
		/* fall through */
	case S_INT:
	case S_HEX:
		if (!sym_string_valid(sym, val))
			return false;
		free(sym->def[S_DEF_USER].val);
		sym->def[S_DEF_USER].val = xstrdup(val);
		break;
	default:
		return true;
	}
	sym->flags |= SYMBOL_DEF_USER;
	return true;
}

/* One .config line of a SET request, read as conf_read_simple() reads it after the
 * reference's lines, or in place of the reference's line for the same symbol: a choice
 * member read in place keeps the priority the reference gave it, an appended one is read
 * last and wins.  `seen` holds the symbols this request already set. */
static bool set_line(char *line, struct symbol **seen, size_t *n_seen)
{
	char *p, *val;
	const char *name;
	struct symbol *sym;
	struct menu *choice;
	bool in_place;

	if (line[0] == '#') {
		if (line[1] != ' ' || strncmp(line + 2, CONFIG_, strlen(CONFIG_)))
			return true;
		name = line + 2 + strlen(CONFIG_);
		p = strchr(name, ' ');
		if (!p)
			return true;
		*p++ = 0;
		if (strcmp(p, "is not set"))
			return true;
		val = "n";
	} else {
		if (!line[0])
			return true;
		if (strncmp(line, CONFIG_, strlen(CONFIG_)))
			return false;
		name = line + strlen(CONFIG_);
		p = strchr(name, '=');
		if (!p)
			return false;
		*p = 0;
		val = p + 1;
	}
	sym = sym_find(name);
	if (!sym) {
		conf_set_changed(true);
		return true;
	}
	for (size_t i = 0; i < *n_seen; i++)
		if (seen[i] == sym)
			return false;
	seen[(*n_seen)++] = sym;
	in_place = sym->flags & SYMBOL_DEF_USER;
	if (!set_value(sym, val))
		return false;
	choice = sym_get_choice_menu(sym);
	if (choice && !in_place)
		list_move(&sym->choice_link, &choice->choice_members);
	return true;
}

/* SET: the request's lines up to ".", then the answer. */
static void answer_set(FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct symbol **seen = NULL;
	size_t n_seen = 0, n_lines = 0;
	bool modelled = no_shortcut == NULL;

	if (modelled)
		restore_read();
	while ((len = getline(&line, &cap, in)) != -1) {
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!strcmp(line, "."))
			break;
		seen = grow(seen, n_lines++, sizeof(*seen));
		if (modelled)
			modelled = set_line(line, seen, &n_seen);
	}
	free(line);
	free(seen);
	if (!modelled) {
		puts("?\n.");
		return;
	}
	calc_after_read(false);
	emit(0);
}

static void print_token(const struct symbol *sym)
{
	const char *p;

	/* "default 100" and undefined names are symbols of unknown type that evaluate as
	 * their text: print them as constants. */
	if (!(sym->flags & SYMBOL_CONST) && sym->name && sym->type != S_UNKNOWN) {
		printf(" %s", sym->name);
		return;
	}
	fputs(" \"", stdout);
	for (p = sym->name ? sym->name : ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

static void print_expr(const struct expr *e)
{
	static const char *const ops[] = {
		[E_OR] = "|", [E_AND] = "&", [E_NOT] = "!", [E_EQUAL] = "=", [E_UNEQUAL] = "!=",
		[E_LTH] = "<", [E_LEQ] = "<=", [E_GTH] = ">", [E_GEQ] = ">=",
	};

	if (!e) {
		fputs(" -", stdout);
		return;
	}
	switch (e->type) {
	case E_SYMBOL:
		print_token(e->left.sym);
		return;
	case E_NOT:
		fputs(" !", stdout);
		print_expr(e->left.expr);
		return;
	case E_OR:
	case E_AND:
		printf(" %s", ops[e->type]);
		print_expr(e->left.expr);
		print_expr(e->right.expr);
		return;
	case E_EQUAL:
	case E_UNEQUAL:
	case E_LTH:
	case E_LEQ:
	case E_GTH:
	case E_GEQ:
		printf(" %s", ops[e->type]);
		print_token(e->left.sym);
		print_token(e->right.sym);
		return;
	default:
		fputs(" ?", stdout);
	}
}

static void print_model(void)
{
	for (size_t i = 0; i < n_order; i++) {
		struct symbol *sym = order[i];
		struct property *prop;
		struct menu *choice;

		printf("S %s %s\n", sym->name, sym_type_name(sym->type));
		for_all_prompts(sym, prop) {
			fputs("V", stdout);
			print_expr(prop->visible.expr);
			putchar('\n');
		}
		fputs("D", stdout);
		print_expr(sym->dir_dep.expr);
		fputs("\nR", stdout);
		print_expr(sym->rev_dep.expr);
		fputs("\nI", stdout);
		print_expr(sym->implied.expr);
		putchar('\n');
		for_all_defaults(sym, prop) {
			fputs("F", stdout);
			print_expr(prop->expr);
			print_expr(prop->visible.expr);
			putchar('\n');
		}
		for_all_properties(sym, prop, P_RANGE) {
			fputs("N", stdout);
			print_token(prop->expr->left.sym);
			print_token(prop->expr->right.sym);
			print_expr(prop->visible.expr);
			putchar('\n');
		}
		choice = sym_get_choice_menu(sym);
		for (size_t c = 0; choice && c < n_choices; c++)
			if (choices[c].menu == choice)
				printf("C %zu\n", c);
	}
	for (size_t c = 0; c < n_choices; c++) {
		struct symbol *sym = choices[c].menu->sym;
		struct property *prop;

		printf("K %zu\n", c);
		for_all_prompts(sym, prop) {
			fputs("V", stdout);
			print_expr(prop->visible.expr);
			putchar('\n');
		}
		for_all_defaults(sym, prop) {
			fputs("F", stdout);
			print_expr(prop->expr);
			print_expr(prop->visible.expr);
			putchar('\n');
		}
	}
	puts(".");
}

static void quiet(const char *s)
{
	(void)s;
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s KCONFIG\n", argv[0]);
		return 2;
	}
	conf_set_message_callback(quiet);
	conf_parse(argv[1]);
	if (sym_dep_errors())
		return 1;
	snapshot_symbols();
	collect_order();
	snapshot_choices();
	for (size_t c = 0; c < n_choices; c++)
		n_read_choice_order += choices[c].count;
	collect_exprs();
	printf("READY %zu\n", n_order);
	fflush(stdout);

	while ((len = getline(&line, &cap, stdin)) != -1) {
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!strncmp(line, "REF ", 4))
			answer(line + 4, 1);
		else if (!strncmp(line, "EVAL ", 5))
			answer(line + 5, 0);
		else if (!strcmp(line, "SET"))
			answer_set(stdin);
		else if (!strcmp(line, "MODEL"))
			print_model();
		else if (!strcmp(line, "QUIT"))
			break;
		else
			printf("!unknown request\n.\n");
		fflush(stdout);
	}
	free(line);
	return 0;
}
