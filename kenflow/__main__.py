from kenflow.cli import main

main()
