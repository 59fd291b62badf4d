set(DR_WARNINGS -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
    -Wmissing-prototypes -Wvla -Wno-format-nonliteral)
