"""python -m demo --out FOLDER [--variant NAME --accounts N ...]: write a demo world's tables to a folder."""
from demo.world import main

if __name__ == "__main__":
    main()
