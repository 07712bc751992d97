//! File modes as playbooks write them: octal numbers or strings, and symbolic `u+rwx,g-w`.
