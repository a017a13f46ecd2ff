from netdsl.cli import main

main()
