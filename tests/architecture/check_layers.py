#!/usr/bin/env python3
"""Every #include "<component>/..." under src/ names the file's own component or one it uses.

The build already refuses a .cpp that includes a component its library does not use; this
check also covers headers that no .cpp of their own component includes, and fails on a folder
of src/ that is not declared as a component. Usage: check_layers.py <src dir> <component_graph.txt>
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/')


def read_graph(path):
    uses = {}
    for line in pathlib.Path(path).read_text().splitlines():
        name, _, used = line.partition(":")
        uses[name.strip()] = used.split()
    return uses


def reachable(uses, name):
    seen, todo = set(), [name]
    while todo:
        for used in uses[todo.pop()]:
            if used not in seen:
                seen.add(used)
                todo.append(used)
    return seen


def main(src, graph_path):
    uses = read_graph(graph_path)
    src = pathlib.Path(src)
    problems = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        if folder.name not in uses:
            problems.append(f"src/{folder.name}/ is not a component (cmake/components.cmake)")
    for file in sorted(src.rglob("*.[ch]pp")):
        component = file.relative_to(src).parts[0]
        if component not in uses:
            continue
        allowed = reachable(uses, component) | {component}
        for number, line in enumerate(file.read_text().splitlines(), 1):
            match = INCLUDE.match(line)
            if match and match.group(1) in uses and match.group(1) not in allowed:
                problems.append(f"{file}:{number}: {component} includes {match.group(1)}, "
                                f"which it does not use (uses: {' '.join(uses[component]) or 'nothing'})")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
