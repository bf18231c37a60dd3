"""The ``conv1d`` command line: ``conv1d demo`` and ``conv1d explain``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from . import __version__
from .errors import ConvError

_EXPLAIN_EXAMPLES = """\
examples:
  the tutorial's text CNN (channels on the wrong axis: says so, and why 34):
    conv1d explain --in-channels 256 --out-channels 100 --kernel-size 2 \\
        --input-shape 32,35,256
  one output element by hand, and a picture of the window:
    conv1d explain --in-channels 2 --out-channels 3 --kernel-size 5 \\
        --input-shape 4,2,6 --element 0,0,1 --plot window.png
  stride, dilation, padding and the plan, as JSON:
    conv1d explain --in-channels 16 --out-channels 32 --kernel-size 3 \\
        --stride 2 --dilation 2 --padding same --input-shape 8,16,100 --json
  a WaveNet stack: shapes through it and its receptive field:
    conv1d explain --in-channels 64 --out-channels 64 --kernel-size 2 \\
        --padding causal --dilations 1,2,4,8,16,32,64,128,256,512 \\
        --input-shape 1,64,16000

exit status: 0 on success; 2 for arguments that make no valid layer or input.
"""


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(
            int(part) for part in text.replace("(", "").replace(")", "").split(",") if part.strip()
        )
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 32,35,256, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,35,256, got {text!r}")
    return values


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"the seed is a whole number >= 0 (e.g. 0 or 42), got {text!r}")
    return seed


def _padding(text: str) -> Any:
    if text in ("valid", "same", "causal"):
        return text
    values = _ints(text)
    if len(values) > 2:
        raise argparse.ArgumentTypeError(
            f"padding is an int, left,right, valid, same or causal; got {text!r}"
        )
    return values[0] if len(values) == 1 else values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conv1d",
        description="PyTorch's Conv1d on NumPy: exact, trainable, explained.",
        epilog="examples: conv1d demo; conv1d explain --help",
    )
    parser.add_argument("--version", action="version", version=f"conv1d {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="replay the two classic Conv1d tutorials")
    demo.add_argument(
        "--plot",
        metavar="PATH",
        default="conv1d-demo.png",
        help="where to write the picture (default conv1d-demo.png; 'none' to skip)",
    )
    ex = commands.add_parser(
        "explain",
        help="explain a Conv1d on your input shape, with numbers",
        description=textwrap.fill(
            "Explain what a Conv1d (or ConvTranspose1d) does to an input shape: how the shape is "
            "read, the output-length formula with your numbers, the shapes and why, one output "
            "element worked out by hand, and the algorithm.",
            78,
        ),
        epilog=_EXPLAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    layer = ex.add_argument_group("the layer (as Conv1d's arguments)")
    layer.add_argument("--in-channels", type=int, required=True, metavar="C_IN")
    layer.add_argument("--out-channels", type=int, required=True, metavar="C_OUT")
    layer.add_argument("--kernel-size", type=int, required=True, metavar="K")
    layer.add_argument("--stride", type=int, default=1)
    layer.add_argument(
        "--padding", type=_padding, default=0, help="int, left,right, valid, same or causal (default 0)"
    )
    layer.add_argument("--dilation", type=int, default=1)
    layer.add_argument("--groups", type=int, default=1)
    layer.add_argument("--no-bias", action="store_true", help="bias=False")
    layer.add_argument("--padding-mode", default="zeros", help="zeros, reflect, replicate or circular")
    layer.add_argument("--layout", default="NCL", help="NCL (channels first, default) or NLC")
    layer.add_argument("--transposed", action="store_true", help="explain ConvTranspose1d instead")
    layer.add_argument("--output-padding", type=int, default=0, help="ConvTranspose1d only")
    layer.add_argument(
        "--dilations",
        type=_ints,
        metavar="D1,D2,...",
        help="a stack of such layers with these dilations (C_OUT -> C_OUT after the first)",
    )
    what = ex.add_argument_group("what to explain")
    what.add_argument(
        "--input-shape",
        type=_ints,
        required=True,
        metavar="N,C,L",
        help="your input's shape as you have it, e.g. 32,35,256",
    )
    what.add_argument(
        "--element", type=_ints, metavar="N,O,T", help="output element to work out (default 0,0,0)"
    )
    what.add_argument(
        "--seed", type=_seed, default=0, help="seed of the example weights and input (default 0)"
    )
    out = ex.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print JSON instead of text")
    out.add_argument("--plot", metavar="PATH", help="also draw the window into PATH (.png, .svg, .pdf)")
    return parser


def _layer_arguments(args: argparse.Namespace) -> dict[str, Any]:
    arguments = {
        "in_channels": args.in_channels,
        "out_channels": args.out_channels,
        "kernel_size": args.kernel_size,
        "stride": args.stride,
        "padding": args.padding,
        "dilation": args.dilation,
        "groups": args.groups,
        "bias": not args.no_bias,
        "padding_mode": args.padding_mode,
        "layout": args.layout,
    }
    if args.transposed:
        arguments["output_padding"] = args.output_padding
        arguments["transposed"] = True
    elif args.output_padding:
        raise ConvError("--output-padding belongs to ConvTranspose1d: add --transposed, or drop it.")
    return arguments


def _explain(args: argparse.Namespace) -> int:
    from .explanation import explain, explain_stack
    from .layers import Conv1d, ConvTranspose1d

    arguments = _layer_arguments(args)
    if args.plot:  # a picture that cannot be written is refused before anything is explained
        from .plot import check_path

        check_path(args.plot)
    if args.dilations:
        transposed = arguments.pop("transposed", False)
        cls = ConvTranspose1d if transposed else Conv1d
        layers = []
        for i, d in enumerate(args.dilations):
            step = dict(
                arguments, dilation=d, in_channels=arguments["in_channels"] if i == 0 else args.out_channels
            )
            layers.append(cls(**step, rng=args.seed + i))
        stack = explain_stack(layers, args.input_shape)
        sys.stdout.write(stack.to_json() + "\n" if args.json else str(stack))
        return 0
    e = explain(input_shape=args.input_shape, element=args.element, seed=args.seed, **arguments)
    if args.plot:
        from .plot import draw

        draw(e, args.plot)
    if args.json:
        data = e.to_dict()
        if args.plot:
            data["plot"] = args.plot
        import json

        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(str(e) + (f"\nPicture: {args.plot}\n" if args.plot else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run

            plot = None if args.plot == "none" else args.plot
            if plot:
                from .plot import check_path

                check_path(plot)
            sys.stdout.write(run(plot))
            return 0
        if args.command == "explain":
            return _explain(args)
    except ConvError as error:
        message = textwrap.fill(f"conv1d {args.command}: error: {error}", 80, subsequent_indent="  ")
        sys.stderr.write(message + "\n")
        return 2
    parser.print_help()
    return 2
