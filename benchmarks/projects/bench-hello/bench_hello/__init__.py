"""Size and start-up benchmark app: prints hello, exits 0."""


def main() -> int:
    print("hello")
    return 0
