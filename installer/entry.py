"""The bundled application's entry point (PyInstaller runs this file)."""

import multiprocessing


def main() -> None:
    # Forecast runs execute in a spawned child process; in a frozen program the
    # child re-enters here and freeze_support hands it to multiprocessing.
    multiprocessing.freeze_support()
    from app.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
