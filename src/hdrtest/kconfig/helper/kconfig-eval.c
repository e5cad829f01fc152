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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkc.h"
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

static int load(const char *path)
{
	restore_symbols();
	restore_choices();
	if (conf_read(path))
		return 1;
	/* What conf_write() does before writing: a read that changed nothing recomputes. */
	if (!conf_get_changed())
		sym_clear_all_valid();
	return 0;
}

static void answer(const char *path, int make_reference)
{
	if (load(path)) {
		printf("!cannot read %s\n.\n", path);
		return;
	}
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
	printf("READY %zu\n", n_order);
	fflush(stdout);

	while ((len = getline(&line, &cap, stdin)) != -1) {
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!strncmp(line, "REF ", 4))
			answer(line + 4, 1);
		else if (!strncmp(line, "EVAL ", 5))
			answer(line + 5, 0);
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
