from ponder.cli import main

# The guard matters: engines that start workers with the "spawn" method (vLLM) re-import the main module.
if __name__ == "__main__":
    main()
